"""Utility metrics against scikit-learn and hand-worked cases (METRICS.md §1)."""
import numpy as np
import pytest
from sklearn import metrics as skm

from fairdistill.metrics import MetricWarning, accuracy, auc, balanced_accuracy, f1, recall


@pytest.fixture
def binary():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    score = np.clip(0.3 * y + rng.random(300) * 0.8, 0, 1)
    score[:20] = 0.5  # ties
    w = rng.random(300) * 3
    return y, (score > 0.5).astype(int), score, w


@pytest.mark.parametrize("weighted", [False, True])
def test_binary_metrics_match_sklearn(binary, weighted):
    y, p, s, w = binary
    w = w if weighted else None
    assert accuracy(y, p, sample_weight=w) == pytest.approx(skm.accuracy_score(y, p, sample_weight=w))
    assert balanced_accuracy(y, p, sample_weight=w) == pytest.approx(
        skm.balanced_accuracy_score(y, p, sample_weight=w))
    assert recall(y, p, sample_weight=w) == pytest.approx(skm.recall_score(y, p, sample_weight=w))
    assert f1(y, p, sample_weight=w) == pytest.approx(skm.f1_score(y, p, sample_weight=w))
    assert auc(y, s, sample_weight=w) == pytest.approx(skm.roc_auc_score(y, s, sample_weight=w))
    assert auc(y, np.c_[1 - s, s], sample_weight=w) == pytest.approx(skm.roc_auc_score(y, s, sample_weight=w))


def test_auc_is_pairwise_ranking_probability():
    y = np.array([0, 0, 1, 1, 1])
    s = np.array([0.1, 0.6, 0.6, 0.8, 0.3])
    # positives {0.6, 0.8, 0.3} vs negatives {0.1, 0.6}: wins 1+0.5, 1+1, 1+0 -> 4.5 / 6
    assert auc(y, s) == pytest.approx(4.5 / 6)


@pytest.mark.parametrize("weighted", [False, True])
def test_multiclass_matches_sklearn(weighted):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 400)
    logits = rng.normal(size=(400, 4)) + 1.5 * np.eye(4)[y]
    prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    pred = prob.argmax(1)
    w = rng.random(400) if weighted else None
    assert auc(y, prob, sample_weight=w) == pytest.approx(
        skm.roc_auc_score(y, prob, multi_class="ovr", average="macro", sample_weight=w))
    assert f1(y, pred, sample_weight=w) == pytest.approx(skm.f1_score(y, pred, average="macro", sample_weight=w))
    assert balanced_accuracy(y, pred, sample_weight=w) == pytest.approx(
        skm.balanced_accuracy_score(y, pred, sample_weight=w))


def test_edge_cases():
    with pytest.warns(MetricWarning):
        assert np.isnan(auc([1, 1, 1], [0.2, 0.5, 0.9]))
    with pytest.warns(MetricWarning):
        assert np.isnan(accuracy([], []))
    assert recall([0, 0], [1, 0]) == 0.0  # no positives: 0/0 -> 0
    assert f1([0, 0], [0, 0]) == 0.0
    # a class only in y_pred is ignored by balanced accuracy: recalls 1 (class 0) and 0.5 (class 1)
    assert balanced_accuracy([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(0.75)
    assert accuracy([1, 0, 1, 1], [1, 1, 1, 0], sample_weight=[1, 1, 2, 0]) == pytest.approx(3 / 4)


def test_f1_average_follows_the_task_not_the_labels_present():
    # a 3-class task whose subset holds only labels 0 and 1: macro F1 over the present labels (sklearn's), not the
    # binary F1 of label 1
    y, p = [0, 0, 1], [0, 0, 0]
    assert f1(y, p, average="macro") == pytest.approx(skm.f1_score(y, p, average="macro"))  # 0.4
    assert f1(y, p, average="binary") == 0.0
    assert f1([2, 2, 1], [1, 2, 2], average="macro") == pytest.approx(
        skm.f1_score([2, 2, 1], [1, 2, 2], average="macro"))

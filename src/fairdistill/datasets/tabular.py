"""Tabular benchmarks (DATASETS.md section 2): Adult, COMPAS, German Credit, Communities and Crime, Drug consumption.

Every loader returns ``{"train", "valid", "test"}`` FairDatasets. The sensitive axes asked for are removed from X
(with the raw column they are derived from) and returned as ``s`` in the order given; the other candidate sensitive
columns stay in X as ordinary features. Features are encoded by a ``TabularEncoder`` fitted on the training split
(stored in ``meta["encoder"]``).

Protocols (option ``protocol``): ``standard`` (Adult official split, others random 75/25; the training part split
90/10 into train/valid stratified by (y, s)); ``fwc`` (Adult train+test concatenated; random 75/25, then 90/10);
``fair4free`` (Adult and COMPAS, FairDisCo preprocessing: every column categorical, numerics binned; Adult official
split, COMPAS random 80/20; valid = 10% of train); ``intersectional`` (random 60/20/20). A threshold "at the training
median" (the ``age`` axes) uses the training part before the train/valid split. Numeric features are z-scored with
training statistics under every protocol (one-hot columns stay 0/1); Adult's sampling weight ``fnlwgt`` is a feature
only under ``fair4free`` (FairDisCo keeps it, binned).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..dataset import FairDataset
from ..errors import ConfigError, DataError, MissingDataError
from ..params import Param
from . import DatasetSpec, register
from .encoding import TabularEncoder, equal_width_edges, threshold_edges
from .files import RemoteFile, find_file
from .splits import random_split, stratified_holdout

UCI = "https://archive.ics.uci.edu/ml/machine-learning-databases"
PROTOCOLS = ("standard", "fwc", "fair4free", "intersectional")
_PROTOCOL_HELP = ("split protocol: 'standard' (Adult official split, others random 75/25, then 90/10 train/valid), "
                  "'fwc' (Adult train+test pooled; random 75/25 per seed, then 90/10), 'intersectional' (random "
                  "60/20/20 per seed)")
_F4F_HELP = ", 'fair4free' (FairDisCo preprocessing: all columns categorical, numerics binned)"


def _protocol(fair4free_help: str | None = None) -> Param:
    """The ``protocol`` option; with ``fair4free_help`` (where the dataset has that protocol) 'fair4free' is allowed."""
    return Param("protocol", str, "standard", _PROTOCOL_HELP + (fair4free_help or ""),
                 choices=PROTOCOLS if fair4free_help else tuple(p for p in PROTOCOLS if p != "fair4free"))


# ------------------------------------------------------------------------------------------------ files
_VERIFIED: set[str] = set()


def _path(f: RemoteFile, data_dir, dataset: str) -> Path:
    """Locate ``f``; verify its SHA-256 the first time this process reads it."""
    p = find_file(f, data_dir, dataset)
    key = str(p.resolve())
    if f.sha256 and key not in _VERIFIED:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        if h.hexdigest() != f.sha256:
            raise MissingDataError(f"file {p} of dataset {dataset} fails its checksum (sha256 {h.hexdigest()}, "
                                   f"expected {f.sha256}); download it again from {f.url}")
        _VERIFIED.add(key)
    return p


# ------------------------------------------------------------------------------------------------ building
@dataclass(frozen=True)
class Axis:
    """A sensitive axis: its binary code derived from ``source`` (dropped from X when the axis is chosen).

    ``code(frame, train_idx) -> (codes, value_names)``; ``train_idx`` is given for thresholds fitted on training rows.
    """

    source: str
    code: Callable[[pd.DataFrame, np.ndarray], tuple[np.ndarray, list[str]]]


def _equals(col: str, value: str, other: str) -> Axis:
    return Axis(col, lambda df, _: ((df[col].astype(str) == value).to_numpy().astype(np.int64), [other, value]))


def _at_least_median(col: str) -> Axis:
    def code(df, train):
        m = float(np.median(pd.to_numeric(df[col]).to_numpy()[train]))
        return (pd.to_numeric(df[col]).to_numpy() >= m).astype(np.int64), [f"{col}<{m:g}", f"{col}>={m:g}"]
    return Axis(col, code)


@dataclass
class Table:
    """A dataset before splitting: raw frame, target, axes, feature lists, and the splits the protocol needs."""

    name: str
    frame: pd.DataFrame
    y: np.ndarray
    axes: dict[str, Axis]
    numeric: list[str]
    categorical: list[str]
    binned: dict
    class_names: list[str]
    target_name: str
    official_test: np.ndarray | None = None  # boolean mask of the official test rows (Adult)
    test_frac: float = 0.25
    valid_frac: float = 0.10


def _build(t: Table, sensitive: Sequence[str], seed: int, protocol: str, extra_meta: dict) -> dict[str, FairDataset]:
    n = len(t.frame)
    if protocol == "intersectional":
        t.test_frac, t.valid_frac = 0.20, 0.25
    if t.official_test is not None:
        pool, test = np.flatnonzero(~t.official_test), np.flatnonzero(t.official_test)
    else:
        pool, test = random_split(n, t.test_frac, seed)
    codes, values = [], []
    for a in sensitive:
        c, v = t.axes[a].code(t.frame, pool)
        codes.append(c)
        values.append(v)
    s = np.stack(codes, axis=1)
    train, valid = stratified_holdout(pool, np.column_stack([t.y, s])[pool], t.valid_frac, seed)
    empty = [name for name, idx in (("train", train), ("valid", valid), ("test", test)) if len(idx) == 0]
    if empty:
        raise DataError(f"{t.name}: {n} rows leave the {'/'.join(empty)} split empty (train {len(train)}, valid "
                        f"{len(valid)}, test {len(test)}); give a larger table (a few hundred rows at least)")
    drop = {t.axes[a].source for a in sensitive}
    enc = TabularEncoder().fit(
        t.frame.iloc[train], numeric=[c for c in t.numeric if c not in drop],
        categorical=[c for c in t.categorical if c not in drop],
        binned={c: e for c, e in t.binned.items() if c not in drop})
    meta = {"encoder": enc, "target_name": t.target_name, "protocol": protocol, "positive_class": t.class_names[1],
            "seed": seed, **extra_meta}
    out = {}
    for split, idx in (("train", train), ("valid", valid), ("test", test)):
        out[split] = FairDataset(
            X=enc.transform(t.frame.iloc[idx]), y=t.y[idx], s=s[idx], sensitive_names=list(sensitive),
            name=f"{t.name}/{split}", modality="tabular", n_classes=2, class_names=list(t.class_names),
            sensitive_values=[list(v) for v in values], feature_names=enc.feature_names,
            meta=dict(meta, split=split, rows=idx))
    return out


# ------------------------------------------------------------------------------------------------ Adult
ADULT_COLUMNS = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
                 "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
                 "income"]
ADULT_FILES = (
    RemoteFile("adult/adult.data", f"{UCI}/adult/adult.data",
               "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d"),
    RemoteFile("adult/adult.test", f"{UCI}/adult/adult.test",
               "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05"),
)


def _read_adult(data_dir) -> pd.DataFrame:
    parts = []
    for f, skip in zip(ADULT_FILES, (0, 1)):
        df = pd.read_csv(_path(f, data_dir, "adult"), header=None, names=ADULT_COLUMNS, skipinitialspace=True,
                         skiprows=skip)
        df = df.dropna(subset=["income"])  # trailing blank lines
        df["income"] = df["income"].str.rstrip(".")
        df["official_test"] = bool(skip)
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def _load_adult(data_dir, seed: int, sensitive: Sequence[str], *, protocol: str, split: str):
    """UCI Adult: y = income >50K; axes sex (Male=1), race (White=1), race_black (Black=1), age (>= train median)."""
    df = _read_adult(data_dir)
    axes = {"sex": _equals("sex", "Male", "Female"), "race": _equals("race", "White", "non-White"),
            "race_black": _equals("race", "Black", "non-Black"), "age": _at_least_median("age")}
    categorical = ["workclass", "education", "marital-status", "occupation", "relationship", "race", "sex",
                   "native-country"]
    if protocol == "fair4free":
        # FairDisCo: bins over train+test together; capital columns -> 1[value > median]
        binned = {"age": equal_width_edges(df["age"], 8),
                  "hours-per-week": equal_width_edges(df["hours-per-week"], 8),
                  "fnlwgt": {"edges": equal_width_edges(df["fnlwgt"], 8, log=True), "log": True},
                  "capital-gain": threshold_edges(df["capital-gain"], float(df["capital-gain"].median())),
                  "capital-loss": threshold_edges(df["capital-loss"], float(df["capital-loss"].median()))}
        numeric, categorical = [], categorical + ["education-num"]
        official = split == "official"
        test_frac = 0.20
    else:
        numeric = ["age", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
        binned = {}
        official = protocol == "standard"
        test_frac = 0.25
    t = Table("adult", df, (df["income"] == ">50K").to_numpy().astype(np.int64), axes, numeric, categorical, binned,
              ["<=50K", ">50K"], "income", official_test=df["official_test"].to_numpy() if official else None,
              test_frac=test_frac)
    return _build(t, sensitive, seed, protocol, {"dataset": "adult"})


# ------------------------------------------------------------------------------------------------ COMPAS
COMPAS_FILE = RemoteFile(
    "compas/compas-scores-two-years.csv",
    "https://raw.githubusercontent.com/propublica/compas-analysis/master/compas-scores-two-years.csv",
    "c451db85908b2f7fef1d83203bedf6b71ecda0d5af468d82ae62178f91d0cc7d")
COMPAS_VARIANTS = ("compas", "compas_binary_race", "compas_fairdisco")


def _compas_variant(variant: str | None, protocol: str) -> str:
    return variant or ("compas_fairdisco" if protocol == "fair4free" else "compas")


def _load_compas(data_dir, seed: int, sensitive: Sequence[str], *, protocol: str, variant: str | None,
                 faithful: bool):
    """ProPublica COMPAS: y = two_year_recid; axes race (African-American=1), sex (Male=1), age (>= train median)."""
    variant = _compas_variant(variant, protocol)
    if protocol == "fair4free" and variant != "compas_fairdisco":
        raise ConfigError(f"compas: protocol 'fair4free' uses variant 'compas_fairdisco', not {variant!r}")
    if faithful and variant != "compas_fairdisco":
        raise ConfigError("compas: faithful=True only applies to variant 'compas_fairdisco'")
    df = pd.read_csv(_path(COMPAS_FILE, data_dir, "compas"))
    axes = {"race": _equals("race", "African-American", "other"), "sex": _equals("sex", "Male", "Female"),
            "age": _at_least_median("age")}
    if variant == "compas_fairdisco":
        df = df.reset_index(drop=True)
        df["priors_count"] = df["priors_count"].clip(upper=9)
        numeric, categorical = [], ["sex", "age_cat", "race", "priors_count", "c_charge_degree"]
        if faithful:
            categorical += ["decile_score.1", "priors_count.1"]
        binned = {"age": equal_width_edges(df["age"], 5)}
        test_frac = 0.20
    else:
        keep = ((df["days_b_screening_arrest"] >= -30) & (df["days_b_screening_arrest"] <= 30)
                & (df["is_recid"] != -1) & (df["c_charge_degree"] != "O") & (df["score_text"] != "N/A")
                & df["score_text"].notna())
        if variant == "compas_binary_race":
            keep &= df["race"].isin(["African-American", "Caucasian"])
        df = df[keep].reset_index(drop=True)
        numeric = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]
        categorical = ["sex", "age_cat", "race", "c_charge_degree"]
        binned = {}
        test_frac = 0.20 if protocol == "fair4free" else 0.25
    t = Table("compas", df, df["two_year_recid"].to_numpy().astype(np.int64), axes, numeric, categorical, binned,
              ["no recidivism", "recidivism within 2 years"], "two_year_recid", test_frac=test_frac)
    return _build(t, sensitive, seed, protocol, {"dataset": "compas", "variant": variant, "faithful": faithful})


# ------------------------------------------------------------------------------------------------ German
GERMAN_FILE = RemoteFile("german/german.data", f"{UCI}/statlog/german/german.data",
                         "b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871")
GERMAN_COLUMNS = ["checking_status", "duration", "credit_history", "purpose", "credit_amount", "savings",
                  "employment_since", "installment_rate", "personal_status_sex", "other_debtors", "residence_since",
                  "property", "age", "other_installment_plans", "housing", "existing_credits", "job",
                  "people_liable", "telephone", "foreign_worker", "class"]  # UCI attributes A1..A20, class
GERMAN_NUMERIC = ["duration", "credit_amount", "installment_rate", "residence_since", "age", "existing_credits",
                  "people_liable"]


def _load_german(data_dir, seed: int, sensitive: Sequence[str], *, protocol: str):
    """UCI Statlog German Credit: y = good credit (class 1); axes sex (from A9; male=1), age (>= 25)."""
    df = pd.read_csv(_path(GERMAN_FILE, data_dir, "german"), sep=" ", header=None, names=GERMAN_COLUMNS)
    df["sex"] = np.where(df["personal_status_sex"].isin(["A92", "A95"]), "female", "male")
    axes = {"sex": _equals("sex", "male", "female"),
            "age": Axis("age", lambda d, _: ((d["age"] >= 25).to_numpy().astype(np.int64), ["age<25", "age>=25"]))}
    categorical = [c for c in GERMAN_COLUMNS[:-1] if c not in GERMAN_NUMERIC and c != "personal_status_sex"]
    t = Table("german", df, (df["class"] == 1).to_numpy().astype(np.int64), axes, list(GERMAN_NUMERIC),
              categorical + ["sex"], {}, ["bad", "good"], "class")
    return _build(t, sensitive, seed, protocol, {"dataset": "german"})


# ------------------------------------------------------------------------------------------------ Crime
CRIME_FILES = (
    RemoteFile("communities_crime/communities.data", f"{UCI}/communities/communities.data",
               "d90d85bd66bad9a00fa0ed6c15ac017b5966d528e55ba2940ad028d071353f95"),
    RemoteFile("communities_crime/communities.names", f"{UCI}/communities/communities.names",
               "80914f24ab37261fb0fbda7e417cad8001335dadda4a8d702c265601ef8434fc"),
)
CRIME_DROPPED = [*range(0, 5), *range(101, 118), *range(121, 125), 126]  # ids and the 22 sparse LEMAS columns


def _load_crime(data_dir, seed: int, sensitive: Sequence[str], *, protocol: str):
    """UCI Communities and Crime: y = ViolentCrimesPerPop > its mean; axis race = racepctblack > its median."""
    names_text = _path(CRIME_FILES[1], data_dir, "crime").read_text(errors="replace")
    names = [line.split()[1] for line in names_text.splitlines() if line.lower().startswith("@attribute")]
    df = pd.read_csv(_path(CRIME_FILES[0], data_dir, "crime"), header=None, names=names, na_values="?")
    if len(names) != 128 or df.shape[1] != 128:
        raise DataError(f"communities data has {df.shape[1]} columns and {len(names)} names; expected 128")
    black, target = df["racepctblack"].to_numpy(), df["ViolentCrimesPerPop"].to_numpy()
    med = float(np.median(black))
    race = (black > med).astype(np.int64)  # threshold over all communities, as the paper states
    axes = {"race": Axis("racepctblack", lambda d, _: (race, [f"racepctblack<={med:g}", f"racepctblack>{med:g}"]))}
    dropped = {names[i] for i in CRIME_DROPPED} | {"racepctblack", "ViolentCrimesPerPop"}
    numeric = [c for c in names if c not in dropped]
    t = Table("crime", df, (target > target.mean()).astype(np.int64), axes, numeric, [], {},
              ["low crime", "high crime"], "ViolentCrimesPerPop")
    return _build(t, sensitive, seed, protocol,
                  {"dataset": "crime", "target_threshold": float(target.mean()), "race_threshold": med})


# ------------------------------------------------------------------------------------------------ Drug
DRUG_FILE = RemoteFile("drug_consumption/drug_consumption.data", f"{UCI}/00373/drug_consumption.data",
                       "37333e8db8a5529906b3729e5131d41313b5fa3f50dc3afeb4add892108be213")
DRUG_SUBSTANCES = ["Alcohol", "Amphet", "Amyl", "Benzos", "Caff", "Cannabis", "Choc", "Coke", "Crack", "Ecstasy",
                   "Heroin", "Ketamine", "Legalh", "LSD", "Meth", "Mushrooms", "Nicotine", "Semer", "VSA"]
DRUG_COLUMNS = ["ID", "Age", "Gender", "Education", "Country", "Ethnicity", "Nscore", "Escore", "Oscore", "Ascore",
                "Cscore", "Impulsive", "SS", *DRUG_SUBSTANCES]


def _load_drug(data_dir, seed: int, sensitive: Sequence[str], *, protocol: str, include_ethnicity: bool):
    """UCI Drug consumption: y = cannabis ever used (not CL0); axis gender (Male=1, i.e. Gender = -0.48246)."""
    df = pd.read_csv(_path(DRUG_FILE, data_dir, "drug"), header=None, names=DRUG_COLUMNS)
    axes = {"gender": Axis("Gender", lambda d, _: ((d["Gender"] < 0).to_numpy().astype(np.int64),
                                                   ["female", "male"]))}
    numeric = ["Age", "Education", "Country", "Nscore", "Escore", "Oscore", "Ascore", "Cscore", "Impulsive", "SS"]
    if include_ethnicity:
        numeric.insert(3, "Ethnicity")
    t = Table("drug", df, (df["Cannabis"] != "CL0").to_numpy().astype(np.int64), axes, numeric, [], {},
              ["never used", "used"], "Cannabis")
    return _build(t, sensitive, seed, protocol, {"dataset": "drug"})


# ------------------------------------------------------------------------------------------------ registry
register(DatasetSpec(
    name="adult", modality="tabular", loader=f"{__name__}:_load_adult",
    description="UCI Adult census income (32,561 + 16,281 rows); sex Male=1, race White=1, race_black Black=1, "
                "age >= training median = 1",
    target="income >50K", sensitive=("sex", "race", "race_black", "age"), default_sensitive=("sex",),
    files=ADULT_FILES,
    options=(_protocol(_F4F_HELP),
             Param("split", str, "official", "fair4free protocol only: 'official' (FairDisCo's train/test files) or "
                   "'random' (pooled rows, random 80/20 per seed)", choices=("official", "random")))))
register(DatasetSpec(
    name="compas", modality="tabular", loader=f"{__name__}:_load_compas",
    description="ProPublica COMPAS two-year recidivism (6,172 filtered rows); race African-American=1, sex Male=1, "
                "age >= training median = 1; COMPAS scores and outcome columns removed",
    target="two_year_recid", sensitive=("race", "sex", "age"), default_sensitive=("race",), files=(COMPAS_FILE,),
    options=(_protocol(_F4F_HELP + " (random 80/20, variant compas_fairdisco)"),
             Param("variant", str, None, "'compas' (ProPublica filter, 6,172 rows; used when not given), "
                   "'compas_binary_race' (filtered, African-American and Caucasian only, 5,278 rows), "
                   "'compas_fairdisco' (all 7,214 rows, FairDisCo columns, all categorical; used when not given "
                   "under protocol fair4free)", choices=COMPAS_VARIANTS),
             Param("faithful", bool, False, "compas_fairdisco only: keep FairDisCo's leaking duplicated columns "
                   "decile_score.1 and priors_count.1 (false drops them)")),
    faithful_applies=lambda o: _compas_variant(o["variant"], o["protocol"]) == "compas_fairdisco"))
register(DatasetSpec(
    name="german", modality="tabular", loader=f"{__name__}:_load_german",
    description="UCI Statlog German Credit (1,000 rows); sex from personal status A9 (male=1; A9 removed), "
                "age >= 25 = 1",
    target="credit good (class 1)", sensitive=("sex", "age"), default_sensitive=("sex",), files=(GERMAN_FILE,),
    options=(_protocol(),)))
register(DatasetSpec(
    name="crime", modality="tabular", loader=f"{__name__}:_load_crime",
    description="UCI Communities and Crime (1,994 communities, 99 numeric features); race = racepctblack above "
                "its median (1)",
    target="ViolentCrimesPerPop > mean", sensitive=("race",), default_sensitive=("race",), files=CRIME_FILES,
    options=(_protocol(),)))
register(DatasetSpec(
    name="drug", modality="tabular", loader=f"{__name__}:_load_drug",
    description="UCI Drug consumption (1,885 respondents); gender Male=1 (raw Gender -0.48246), female=0",
    target="cannabis ever used", sensitive=("gender",), default_sensitive=("gender",), files=(DRUG_FILE,),
    options=(_protocol(), Param("include_ethnicity", bool, False, "add the Ethnicity column to the features"))))

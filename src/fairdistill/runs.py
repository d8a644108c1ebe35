"""Run folders: the contract between the CLI, the API and anyone who reads results.

``DIR/config.json`` (everything needed to run again), ``DIR/synthetic.npz`` (X float32, y int64, s int64 N x k,
w float64, origin int8, sensitive_names, feature_names; no pickle), ``DIR/synthetic.csv`` (tabular, decoded),
``DIR/metrics.json`` (after evaluation), ``DIR/report.md`` and figures. The folder appears complete or not at all:
it is written under a temporary name and renamed. Checkpoints of a long fit live in the sibling ``DIR.partial/``
until the run succeeds; ``--resume`` continues from there.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
import warnings
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from . import datasets, methods
from .dataset import FairDataset, SyntheticSet, value_names
from .errors import ConfigError, DataError, FairDistillError, MissingDataError
from .fileio import atomic_dir, check_out_folder, new_parents, read_json, write_json
from .progress import log

#: the dataset's split / colouring seed of a run (``--data-seed``): the loader's seed under the run's name
DATA_SEED = replace(datasets.SEED, name="data_seed")


def partial_dir(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


#: the arrays of synthetic.npz (``save_npz``)
NPZ_ARRAYS = ("X", "y", "s", "w", "origin", "sensitive_names", "feature_names")
#: the files that make a folder a run folder (``load_run`` reads them; ``--overwrite`` replaces only such a folder)
RUN_MARKS = ("config.json", "synthetic.npz")


def save_npz(path: Path, data: SyntheticSet) -> None:
    np.savez_compressed(
        path, X=data.X.astype(np.float32), y=data.y.astype(np.int64), s=data.s.astype(np.int64),
        w=data.w.astype(np.float64), origin=data.origin.astype(np.int8),
        sensitive_names=np.array(data.sensitive_names, dtype=str),
        feature_names=np.array(data.feature_names or [], dtype=str))


def _meta_json(data: FairDataset) -> dict:
    meta = {k: v for k, v in data.meta.items() if isinstance(v, (str, int, float, bool, list)) and k != "encoder"}
    enc = data.meta.get("encoder")
    if enc is not None and hasattr(enc, "to_dict"):
        meta["encoder"] = enc.to_dict()
    return meta


def write_run(out: str | Path, synthetic: SyntheticSet, config: dict[str, Any], overwrite: bool = False) -> Path:
    """Write a complete run folder atomically and return its path."""
    from .report import write_run_report
    out = Path(out)
    csv = ", with synthetic.csv" if synthetic.modality == "tabular" else ""
    log(f"[run] writing {out} ({len(synthetic)} rows{csv}) ...")
    with atomic_dir(out, overwrite=overwrite) as tmp:
        cfg = {**config, "fairdistill_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "n_synthetic": len(synthetic), "n_classes": synthetic.n_classes, "meta": _meta_json(synthetic),
               "class_names": synthetic.class_names, "sensitive_values": synthetic.sensitive_values,
               "modality": synthetic.modality, "provenance": synthetic.provenance}
        write_json(tmp / "config.json", cfg)
        save_npz(tmp / "synthetic.npz", synthetic)
        if synthetic.modality == "tabular":
            # 7 significant digits: X is float32, whose digits beyond that are noise (0.24 read back as 0.24000000280)
            synthetic.to_frame().to_csv(tmp / "synthetic.csv", index=False, float_format="%.7g")
        write_run_report(tmp, synthetic, cfg)
    return out


def load_run(run_dir: str | Path) -> tuple[SyntheticSet, dict[str, Any]]:
    """Read a run folder back: the SyntheticSet (with its decoder) and config.json."""
    run_dir = Path(run_dir)
    cfg_path, npz_path = (run_dir / m for m in RUN_MARKS)
    if not cfg_path.exists() or not npz_path.exists():
        make = ("give a run folder written by `fairdistill run`" if run_dir.exists() else
                f"create one with `fairdistill run METHOD --dataset NAME --out {run_dir}`")
        raise ConfigError(f"{run_dir} is not a run folder (config.json and synthetic.npz expected); {make}")
    cfg = read_json(cfg_path, fix="run it again")
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise DataError(f"run folder {run_dir} is corrupt: {npz_path.name} cannot be read ({err}); run it again") \
            from None
    lost = [k for k in NPZ_ARRAYS if k not in arrays]
    if lost:
        raise DataError(f"run folder {run_dir} is corrupt: {npz_path.name} lacks {', '.join(lost)}; run it again")
    meta = dict(cfg.get("meta", {}))
    if "encoder" in meta:
        from .datasets.encoding import TabularEncoder
        meta["encoder"] = TabularEncoder.from_dict(meta["encoder"])
    classes = cfg.get("n_classes") or (len(cfg["class_names"]) if cfg.get("class_names") else None)  # older runs
    syn = SyntheticSet(X=arrays["X"], y=arrays["y"], s=arrays["s"], weights=arrays["w"], origin=arrays["origin"],
                       sensitive_names=[str(v) for v in arrays["sensitive_names"]], name=cfg.get("dataset", "data"),
                       modality=cfg.get("modality", "tabular"), class_names=cfg.get("class_names"),
                       sensitive_values=cfg.get("sensitive_values"), n_classes=classes,
                       feature_names=[str(v) for v in arrays["feature_names"]] or None, meta=meta,
                       provenance=cfg.get("provenance", {}))
    return syn, cfg


def dataset_args(cfg: dict[str, Any]) -> dict[str, Any]:
    return {"data_dir": cfg.get("data_dir"), "sensitive": cfg.get("sensitive"), "seed": cfg.get("data_seed", 0),
            **cfg.get("dataset_options", {})}


def check_model(model: str | None, modality: str) -> None:
    """A downstream model name that exists and fits the data's modality (checked before any data is loaded)."""
    if model is None:
        return
    from .models import MODELS, model_class
    kind = model_class(model).modality
    if kind != modality:
        fits = [name for name, cls in MODELS.items() if cls.modality == modality]
        raise ConfigError(f"model {model!r} is for {kind} data but this data is {modality}; "
                          f"choose from: {', '.join(fits)}")


def execute(method: str, dataset: str, *, params: dict[str, Any] | None = None, sensitive=None, data_dir=None,
            data_seed: int = 0, dataset_options: dict[str, Any] | None = None, out: str | Path,
            resume: bool = False, overwrite: bool = False, trainable: bool = False) -> tuple[Path, SyntheticSet]:
    """Load ``dataset``, fit ``method`` on its training split and write the run folder ``out``. A set no
    classifier can train on (``evaluation.untrainable``) is refused before anything is written when ``trainable``
    (the run will be evaluated), and otherwise written with a warning.

    Names, parameters and checkpoints are checked before any folder is made; a failure leaves no run folder (only
    ``out.partial`` with a checkpoint, when there is something to resume). A checkpoint left by an interrupted run
    is continued with ``resume``, discarded with ``overwrite``, and otherwise never touched (the call fails).
    """
    if not str(out).strip():
        raise ConfigError("--out is empty; give the run folder's path")
    out = Path(os.path.abspath(Path(out).expanduser()))
    check_out_folder(out, overwrite, "run folder", RUN_MARKS)
    partial = partial_dir(out)
    checkpoint = partial / "checkpoint.pt"
    data_seed = DATA_SEED.coerce(data_seed)
    params = dict(params or {})
    est = methods.make(method, **params)
    if resume and not checkpoint.exists():
        raise ConfigError(f"--resume: no checkpoint at {checkpoint}; run without --resume")
    if checkpoint.exists() and not est.checkpoints() and not overwrite:
        raise ConfigError(f"{partial} holds the checkpoint of an interrupted run, and {method} keeps none, so it is "
                          f"another method's: resume that run with its own command, or pass --overwrite (without "
                          f"--resume) to discard it")
    if checkpoint.exists() and not resume and not overwrite:
        raise ConfigError(f"{partial} holds a checkpoint of an interrupted run; continue with --resume, or pass "
                          f"--overwrite to discard it")
    # an unknown name or option fails here, before any folder is made; config.json records the given options typed
    # (a csv path made absolute), so that `evaluate` rebuilds the same splits from any folder
    given = dict(dataset_options or {})
    spec = datasets.spec(dataset)
    est.check_modality(spec.modality, dataset)
    typed = spec.resolve_options(given)
    if est.preset == "paper" and "faithful" not in given and spec.has_faithful_form(typed):
        given["faithful"] = typed["faithful"] = True  # DATASETS.md: the paper preset reads the data as the reference
        log(f"[run] preset=paper: {dataset} loaded with faithful=true (give --data-option faithful=false to not)")
    options = {k: typed[k] for k in given}
    if partial.exists() and not resume:
        shutil.rmtree(partial)
    with new_parents(partial):  # a failure removes the parent folders this call made (when left empty)
        partial.mkdir(exist_ok=True)  # before the data is loaded: an unwritable --out fails at once
        try:
            log(f"[run] loading {dataset} ...")
            train = datasets.load_splits(dataset, data_dir=data_dir, sensitive=sensitive, seed=data_seed,
                                         **options)["train"]  # (not load(): a dataset may have an option named split)
            log(f"[run] {method} on {dataset} ({len(train)} training rows, sensitive={train.sensitive_names})")
            est.fit(train, checkpoint_dir=partial, resume=resume)
            config = {"method": method, "params": est.get_params(), "dataset": dataset,
                      "sensitive": train.sensitive_names,
                      "data_dir": None if data_dir is None else str(Path(data_dir).expanduser().resolve()),
                      "data_seed": data_seed, "dataset_options": options,
                      "command": " ".join(["fairdistill", *sys.argv[1:]])}
            from .evaluation import untrainable
            problem = untrainable(est.synthetic_)
            if problem and trainable:
                raise DataError(problem)
            if problem:
                warnings.warn(f"{method}: {problem}", stacklevel=2)
            write_run(out, est.synthetic_, config, overwrite=overwrite)
        except BaseException as err:
            if not checkpoint.exists():
                shutil.rmtree(partial, ignore_errors=True)
            elif isinstance(err, KeyboardInterrupt):  # Ctrl-C, or SIGTERM through the CLI: the one-line exit message
                err.add_note(f"the checkpoint in {partial} is kept: continue with --resume")
            elif not isinstance(err, FairDistillError):  # a crash (out of memory, ...): resuming skips the done part
                log(f"[run] stopped ({type(err).__name__}); continue with --resume (checkpoint in {partial})")
            raise
    shutil.rmtree(partial, ignore_errors=True)
    return out, est.synthetic_


def evaluate_run(run_dir: str | Path, model: str | None = None, repeats: int | None = None, seed: int = 0,
                 device: str = "auto", options: dict[str, Any] | None = None, data_dir=None):
    """Evaluate a run folder on its dataset's real test split; write metrics.json (flat name -> number),
    evaluation.json (the protocol used: model, repeats, seed, options), groups.json and report.md.

    A method may recommend a protocol in ``provenance["eval"]`` (model, repeats, options such as DSA for DM
    sets); explicit arguments win. Returns (Report, SyntheticSet, config).
    """
    from .evaluation import REPEATS, evaluate
    from .report import write_run_report
    if repeats is not None:  # None: the method's recommendation, else 5
        repeats = REPEATS.coerce(repeats)
    run_dir = Path(run_dir)
    syn, cfg = load_run(run_dir)
    check_model(model, syn.modality)
    dargs = dataset_args(cfg)
    if data_dir is not None:
        dargs["data_dir"] = data_dir
    elif dargs["data_dir"] is not None and not Path(dargs["data_dir"]).is_dir():
        log(f"[evaluate] the run's data folder {dargs['data_dir']} is gone; searching $FAIRDISTILL_DATA and the cache "
            f"(--data-dir names another folder)")
        dargs["data_dir"] = None
    path = dargs.get("path") if cfg["dataset"] == "csv" else None
    if path is not None and not Path(path).is_file():
        raise MissingDataError(f"the run's csv file {path} is gone; put it back, or write its new path into "
                               f"dataset_options.path in {run_dir / 'config.json'} (the file is checked against the "
                               f"run's sha256)")
    splits = datasets.load_splits(cfg["dataset"], **dargs)
    then = cfg.get("provenance", {}).get("dataset_meta", {}).get("sha256")
    now = splits["train"].meta.get("sha256")
    if then and now and then != now:  # your own csv file changed since the run: its splits would differ
        raise DataError(f"{splits['train'].meta.get('path', 'the data file')} changed since this run was made (sha256 "
                        f"{now[:12]}..., the run used {then[:12]}...); evaluate against the file the run used")
    hint = cfg.get("provenance", {}).get("eval", {})
    model = model or hint.get("model")
    follow = model is not None and model == hint.get("model")  # the hint's options belong to its model only
    opts = {**(hint.get("options", {}) if follow else {}), **(options or {})}
    repeats = repeats if repeats is not None else (hint.get("repeats") or 5)
    rep = evaluate(syn, splits["test"], model=model, repeats=repeats, seed=seed, valid=splits.get("valid"),
                   device=device, **opts)
    typed = rep.config["model_options"]  # the options as the model read them (e.g. "none" -> None)
    metrics, groups = rep.flat(), rep.group_table()
    protocol = {"model": rep.model, "repeats": repeats, "seed": seed,
                "options": {k: typed.get(k, v) for k, v in opts.items()},  # the ones given (or the method's hint)
                "settings": dict(typed),  # every option of the model, defaults included, as it trained
                "units": "metrics.json: DEO (deo_*) in percent, as FairDD reports it; every other value as is "
                         "(accuracy, rates and disparities as fractions)"}
    if (run_dir / "metrics.json").exists():
        log(f"[evaluate] replacing the earlier evaluation in {run_dir} (metrics.json, evaluation.json, groups.json, "
            f"report.md)")
    # the report first: if drawing it fails, the folder keeps its earlier, consistent metrics
    write_run_report(run_dir, syn, cfg, metrics=metrics, groups=groups, protocol=protocol)
    write_json(run_dir / "evaluation.json", protocol)
    write_json(run_dir / "groups.json", [{**row, "names": dict(zip(syn.sensitive_names,
                                                                    value_names(row["group"], syn.sensitive_values)))}
                                         for row in groups])
    write_json(run_dir / "metrics.json", metrics)
    return rep, syn, cfg

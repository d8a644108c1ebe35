"""The ``fairdistill`` command. Errors print one line and exit with status 2."""
from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from . import __version__
from .errors import ConfigError, FairDistillError

EPILOG = ("Data is read from --data-dir, else $FAIRDISTILL_DATA, else ~/.cache/fairdistill. "
          "Every command is reproducible: same --seed, same result on the same machine.")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Show each option's default, unless its help already says it or there is nothing to show."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, argparse.SUPPRESS) or action.required or \
                not action.option_strings:
            return text
        return text + " (default: %(default)s)"


def _value(text: str) -> Any:
    """Parse KEY=VALUE values: JSON numbers / booleans / null, else the string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _pairs(items: Sequence[str] | None, flag: str) -> dict[str, Any]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"{flag} {item!r} must look like KEY=VALUE (e.g. {flag} protocol=fwc)")
        k, v = item.split("=", 1)
        out[k.strip().replace("-", "_")] = _value(v)
    return out


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None, help="folder holding the dataset folders (adult/, mnist/, ...); "
                   "default: $FAIRDISTILL_DATA, else ~/.cache/fairdistill")


# ---------------------------------------------------------------------------------------------------- commands
def cmd_datasets(args) -> int:
    from . import datasets
    if args.name:
        return _describe_dataset(datasets, args.name, args.data_dir)
    print(f"{'name':<12}{'kind':<9}{'files':<9}{'target':<22}{'sensitive (default first)':<40}sizes")
    for name in datasets.names():
        sp = datasets.spec(name)
        present = datasets.files_present(name, args.data_dir)
        sens = ", ".join(list(sp.default_sensitive) + [a for a in sp.sensitive if a not in sp.default_sensitive])
        sizes = ""
        if args.sizes and present:
            try:
                splits = datasets.load_splits(name, data_dir=args.data_dir)
                sizes = " / ".join(f"{k} {len(v)}" for k, v in splits.items())
            except FairDistillError as err:
                sizes = f"error: {err}"
        print(f"{name:<12}{sp.modality:<9}{'present' if present else 'missing':<9}{sp.target[:21]:<22}"
              f"{sens[:39]:<40}{sizes}")
    if not args.sizes:
        print("\n(--sizes loads each present dataset and prints its split sizes; `fairdistill datasets NAME` shows "
              "one dataset's options)")
    return 0


def _describe_dataset(datasets, name: str, data_dir) -> int:
    """One dataset in full: what it is, its files, its sensitive axes and every ``--data-option``."""
    sp = datasets.spec(name)
    present = datasets.files_present(name, data_dir)
    print(f"{sp.name} ({sp.modality}): {sp.description}")
    print(f"target: {sp.target}")
    print(f"sensitive axes: {', '.join(sp.sensitive)} (default: {', '.join(sp.default_sensitive)})")
    print(f"files: {'present' if present else 'missing'}")
    lines = sp.options_help()
    print("options (--data-option KEY=VALUE):" if lines else "options: none")
    for line in lines:
        print(f"  {line}")
    return 0


def _escape(text: str) -> str:
    """A help text for argparse, which %-formats help strings ("5%" would crash --help)."""
    return text.replace("%", "%%")


def _method_parser(name: str) -> argparse.ArgumentParser:
    from . import methods
    cls = methods.get(name)
    doc = (cls.__doc__ or cls.summary or "").strip()
    p = argparse.ArgumentParser(prog=f"fairdistill run {name}", description=doc, formatter_class=_Formatter,
                                epilog=EPILOG)
    p.add_argument("--dataset", required=True, help="dataset name (see `fairdistill datasets`)")
    p.add_argument("--sensitive", nargs="+", default=None,
                   help="sensitive attribute(s); several give intersectional groups (default: the dataset's)")
    p.add_argument("--out", required=True, help="run folder to create (written atomically)")
    _data_args(p)
    p.add_argument("--data-seed", type=int, default=0, help="seed of the dataset's random split / colouring")
    p.add_argument("--data-option", action="append", metavar="KEY=VALUE",
                   help="dataset option, repeatable (e.g. protocol=fwc, bias_ratio=0.95)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in OUT.partial/")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument("--evaluate", metavar="MODEL", default=None,
                   help="also evaluate on the real test split with this model (convnet, mlp, rf, logreg, xgboost)")
    g = p.add_argument_group(f"{name} parameters")
    for prm in cls.param_spec().values():
        flag = "--" + prm.name.replace("_", "-")
        kw: dict[str, Any] = {"default": prm.default, "help": _escape(prm.help), "dest": "param_" + prm.name}
        if prm.choices is not None:
            kw["choices"] = list(prm.choices)
        if prm.type is bool:
            kw["type"] = _value
            kw["metavar"] = "{true,false}"
        else:
            kw["metavar"] = prm.name.upper()
        g.add_argument(flag, **kw)
    return p


def cmd_run(args) -> int:
    from . import methods, runs
    if args.method in (None, "list"):
        print("methods: " + ", ".join(methods.available()))
        print("`fairdistill run METHOD --help` lists a method's options with their defaults.")
        return 0
    p = _method_parser(args.method)
    ns = p.parse_args(args.rest)
    params = {k[6:]: v for k, v in vars(ns).items() if k.startswith("param_")}
    out, syn = runs.execute(args.method, ns.dataset, params=params, sensitive=ns.sensitive, data_dir=ns.data_dir,
                            data_seed=ns.data_seed, dataset_options=_pairs(ns.data_option, "--data-option"),
                            out=ns.out, resume=ns.resume, overwrite=ns.overwrite)
    print(f"wrote {out}: {len(syn)} rows ({syn.modality}), total weight {syn.w.sum():.6g}")
    if ns.evaluate:
        return _evaluate_dir(Path(out), ns.evaluate, repeats=None, seed=0, device="auto", options={})
    return 0


def _evaluate_dir(run_dir: Path, model: str | None, repeats: int | None, seed: int, device: str,
                  options: dict[str, Any], data_dir: str | None = None) -> int:
    from .runs import evaluate_run
    rep, syn, cfg = evaluate_run(run_dir, model=model, repeats=repeats, seed=seed, device=device, options=options,
                                 data_dir=data_dir)
    print(f"{cfg['method']} on {cfg['dataset']} ({len(syn)} rows) -> real test split ({rep.config['n_test']} rows)")
    print(rep.text(percent=syn.modality == "image"))
    print(f"wrote {run_dir / 'metrics.json'}, evaluation.json, groups.json and report.md")
    return 0


def cmd_evaluate(args) -> int:
    from .models import MODELS
    opts = {}
    for name in sorted({p.name for m in MODELS.values() for p in m.options}):
        v = getattr(args, "opt_" + name)
        if v is not None:
            opts[name] = v
    opts.update(_pairs(args.model_option, "--model-option"))
    return _evaluate_dir(Path(args.run_dir), args.model, args.repeats, args.seed, args.device, opts, args.data_dir)


def cmd_report(args) -> int:
    from .report import compare
    path = compare(args.run_dirs, args.out)
    print(path.read_text())
    print(f"wrote {path}")
    return 0


def cmd_bench(args) -> int:
    from . import bench
    if args.suite in (None, "list"):
        for name, (_, desc) in bench.SUITES.items():
            print(f"{name:<18}{desc}")
        return 0
    fn = bench.get(args.suite)
    extra = _pairs(args.set, "--set")
    accepted = set(inspect.signature(fn).parameters) - {"out_dir", "data_dir", "seeds", "quick", "device"}
    unknown = sorted(set(extra) - accepted)
    if unknown:
        raise ConfigError(f"bench {args.suite} has no option(s) {unknown}; accepted with --set: "
                          f"{sorted(accepted) or 'none'}")
    fn(Path(args.out), data_dir=args.data_dir, seeds=args.seeds, quick=args.quick, device=args.device, **extra)
    md = Path(args.out) / f"{args.suite}.md"
    if md.exists():
        print(md.read_text())
    print(f"results in {args.out}/{args.suite}.json")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo
    return run_demo(data_dir=args.data_dir, out=args.out, seed=args.seed)


def cmd_download(args) -> int:
    from .datasets.download import fetch_dataset
    for path in fetch_dataset(args.dataset, args.data_dir):
        print(f"ok {path}")
    return 0


# ------------------------------------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    from .models import MODELS
    p = argparse.ArgumentParser(
        prog="fairdistill", formatter_class=_Formatter, epilog=EPILOG,
        description="Turn a large, biased dataset into a small or synthetic one that trains accurate and fair "
                    "models.\n\nTypical use:\n  fairdistill datasets\n  fairdistill run fwc --dataset adult --size "
                    "0.01 --out runs/fwc\n  fairdistill evaluate runs/fwc --model mlp\n  fairdistill report "
                    "runs/fwc runs/random --out runs/compare")
    p.add_argument("--version", action="version", version=f"fairdistill {__version__}")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser("datasets", help="list datasets, their sensitive attributes and whether files are present",
                       formatter_class=_Formatter, epilog=EPILOG)
    _data_args(d)
    d.add_argument("name", nargs="?", default=None, help="show one dataset in full, with its --data-option options")
    d.add_argument("--sizes", action="store_true", help="load each present dataset and print its split sizes")
    d.set_defaults(fn=cmd_datasets)

    r = sub.add_parser("run", help="fit a method on a dataset and write a run folder",
                       description="fairdistill run METHOD --dataset NAME --out DIR [options]; "
                                   "`fairdistill run METHOD --help` lists the method's options.",
                       formatter_class=_Formatter, add_help=True)
    r.add_argument("method", nargs="?", help="method name, or `list`")
    r.add_argument("rest", nargs=argparse.REMAINDER, help="the method's options")
    r.set_defaults(fn=cmd_run)

    e = sub.add_parser("evaluate", help="train a model on a run's set, score it on the real test split",
                       formatter_class=_Formatter, epilog=EPILOG,
                       description="Writes DIR/metrics.json (name -> number), DIR/evaluation.json (the protocol used), "
                                   "DIR/groups.json (per test group) and DIR/report.md.")
    e.add_argument("run_dir", help="a run folder written by `fairdistill run`")
    e.add_argument("--model", choices=list(MODELS), default=None,
                   help="downstream model (default: the method's recommendation, else convnet for images, "
                        "mlp for tabular)")
    e.add_argument("--repeats", type=int, default=None, help="models trained with seeds seed..seed+R-1 (default 5)")
    e.add_argument("--seed", type=int, default=0, help="first model seed")
    e.add_argument("--device", default="auto", help="auto, cpu, cuda")
    _data_args(e)
    og = e.add_argument_group("model options (default: the model's own, shown per model)")
    per_option: dict[str, list[str]] = {}
    for m in MODELS.values():
        for prm in m.options:
            per_option.setdefault(prm.name, []).append(f"{m.name}: {prm.help}, default {prm.default}")
    for name, texts in per_option.items():
        og.add_argument("--" + name.replace("_", "-"), dest="opt_" + name, type=_value, default=None,
                        metavar=name.upper(), help=_escape("; ".join(texts)))
    og.add_argument("--model-option", action="append", metavar="KEY=VALUE", help="any other model option")
    e.set_defaults(fn=cmd_evaluate)

    rp = sub.add_parser("report", help="compare runs: table, fairness-vs-accuracy plot, per-group bars, grids",
                        formatter_class=_Formatter)
    rp.add_argument("run_dirs", nargs="+", help="run folders (evaluated ones show metrics)")
    rp.add_argument("--out", default="report", help="folder for comparison.md and figures")
    rp.set_defaults(fn=cmd_report)

    b = sub.add_parser("bench", help="reproduce the papers' tables and time the methods (results as JSON)",
                       formatter_class=_Formatter, epilog=EPILOG)
    b.add_argument("suite", nargs="?", help="suite name, or `list`")
    b.add_argument("--out", default="benchmarks", help="folder for SUITE.json / .md / .png")
    _data_args(b)
    b.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the suite's)")
    b.add_argument("--quick", action="store_true", help="tiny configuration (smoke test, seconds)")
    b.add_argument("--device", default="auto", help="auto, cpu, cuda")
    b.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="suite-specific option, repeatable (e.g. fairdd-paper: protocol=full, jobs=4, "
                        "datasets=[\"cmnist-fg\"]; fwc-paper: datasets=crime; fair4free-paper: cases=compas/sex; "
                        "fwc-paper, fair4free-paper, intersectional: resume=true keeps the finished runs in --out "
                        "and runs only what is missing)")
    b.set_defaults(fn=cmd_bench)

    dm = sub.add_parser("demo", help="a real method on real data with a fairness/accuracy table (< 2 min on CPU)",
                        formatter_class=_Formatter, epilog=EPILOG)
    _data_args(dm)
    dm.add_argument("--out", default="runs/demo", help="folder for the demo's run folders and report")
    dm.add_argument("--seed", type=int, default=0, help="seed")
    dm.set_defaults(fn=cmd_demo)

    dl = sub.add_parser("download", help="fetch a dataset's files with checksum verification (needs internet)",
                        formatter_class=_Formatter)
    dl.add_argument("dataset", help="dataset name")
    _data_args(dl)
    dl.set_defaults(fn=cmd_download)
    return p


def _set_threads(value: str | None) -> None:
    """``FAIRDISTILL_THREADS=N``: torch's intra-op threads."""
    if not value:
        return
    if not value.strip().isdigit() or int(value) < 1:
        raise ConfigError(f"FAIRDISTILL_THREADS={value!r} must be a positive integer (or unset it)")
    import torch
    torch.set_num_threads(int(value))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quiet:
        from .progress import set_quiet
        set_quiet(True)
    if not getattr(args, "fn", None):
        parser.print_help()
        return 0
    try:
        _set_threads(os.environ.get("FAIRDISTILL_THREADS"))
        return args.fn(args)
    except FairDistillError as err:
        print(f"fairdistill: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fairdistill: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

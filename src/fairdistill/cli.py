"""The ``fairdistill`` command. Errors print one line and exit with status 2."""
from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import signal
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

from . import __version__
from .errors import ConfigError, FairDistillError, check_members, did_you_mean
from .params import DEVICE

EPILOG = ("Data is read from --data-dir, else $FAIRDISTILL_DATA, else ~/.cache/fairdistill. "
          "Every command is reproducible: same --seed, same result on the same machine with the same number of "
          "threads (OMP_NUM_THREADS / FAIRDISTILL_THREADS).")


# a help text that states its default ("default 0.05", "(default: ...)"), not one that mentions the word
# ("'default' (CPU-friendly ...)", "its defaults are the paper's")
_SAYS_DEFAULT = re.compile(r"\bdefault\b(?![s'])")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Show each option's default, unless its help already says it or there is nothing to show."""

    def _get_help_string(self, action):
        text = action.help or ""
        if _SAYS_DEFAULT.search(text) or action.default in (None, argparse.SUPPRESS) or action.required or \
                not action.option_strings:
            return text
        return text + " (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line: ``PROG: error: MESSAGE; did you mean --x? (see PROG --help)``.
    ``help_extra`` (a callable returning text) is appended to --help, computed only when help is asked for."""

    help_extra = None
    commands: dict[str, argparse.ArgumentParser] = {}

    def format_help(self) -> str:
        text = super().format_help()
        return text + "\n" + self.help_extra() + "\n" if self.help_extra else text

    def error(self, message: str):
        hint = ""
        if message.startswith("unrecognized arguments:"):
            known = [o for o in self._option_string_actions if o.startswith("--")]
            given = [tok.split("=", 1)[0] for tok in message.split(":", 1)[1].split() if tok.startswith("--")]
            hint = did_you_mean(given, known, cutoff=0.75, show=str)  # '--' lifts every ratio
        self.exit(2, f"{self.prog}: error: {message}{hint} (see {self.prog} --help)\n")


def _quiet_arg(p: argparse.ArgumentParser, default: Any = argparse.SUPPRESS) -> None:
    """``--quiet`` in every (sub)command; SUPPRESS keeps a subcommand from resetting ``fairdistill --quiet CMD``."""
    p.add_argument("--quiet", action="store_true", default=default, help="no progress output")


def _typed(param: Any):
    """An argparse ``type`` that coerces with a ``Param``, or the one named ``param`` ("module:NAME", imported when
    an option is parsed, so building the parser stays light): one parser for the CLI and the Python API. The error
    reads as the flag's: "argument --size: '0' is not valid; ...", not the Python "size='0' ..."."""
    def parse(text: str) -> Any:
        prm = param
        if isinstance(param, str):
            import importlib
            module, name = param.split(":")
            prm = getattr(importlib.import_module(module, __package__), name)
        try:
            return prm.coerce(text)
        except ConfigError as err:
            msg = str(err)
            raise argparse.ArgumentTypeError(msg.removeprefix(f"{prm.name}=")) from None
    return parse


def _value(text: str) -> Any:
    """Parse KEY=VALUE values: JSON numbers / booleans / null, else the string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _pairs(items: Sequence[str] | None, flag: str, example: str) -> dict[str, Any]:
    """KEY=VALUE items as a dict (keys with - read as _); a malformed item is an error showing ``example``."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"{flag} {item!r} must look like KEY=VALUE (e.g. {flag} {example})")
        k, v = item.split("=", 1)
        out[k.strip().replace("-", "_")] = _value(v)
    return out


def _data_args(p: argparse.ArgumentParser, default: str = "$FAIRDISTILL_DATA, else ~/.cache/fairdistill") -> None:
    p.add_argument("--data-dir", default=None, help="folder holding the dataset folders (adult/, mnist/, ...); when "
                   f"given, only this folder is searched (default: {default})")


# ---------------------------------------------------------------------------------------------------- commands
def cmd_datasets(args) -> int:
    from . import datasets
    if args.name:
        return _describe_dataset(datasets, args.name, args.data_dir)
    specs = [datasets.spec(name) for name in datasets.names()]
    tw = max(len("target"), *(len(sp.target) for sp in specs)) + 2
    sens_of = {sp.name: _axes_text(sp) for sp in specs}
    sw = max(len("sensitive (default first)"), *map(len, sens_of.values())) + 2
    print(f"{'name':<12}{'kind':<9}{'files':<9}{'target':<{tw}}{'sensitive (default first)':<{sw}}"
          f"{'sizes' if args.sizes else ''}".rstrip())
    missing = []
    for sp in specs:
        name, sens = sp.name, sens_of[sp.name]
        present = datasets.files_present(name, args.data_dir)
        files = "yours" if sp.sensitive_from_data else "present" if present else "missing"
        if files == "missing":
            missing.append(name)
        sizes = ""
        if args.sizes and present and not sp.sensitive_from_data:
            try:
                splits = datasets.load_splits(name, data_dir=args.data_dir)
                sizes = " / ".join(f"{k} {len(v)}" for k, v in splits.items())
            except FairDistillError as err:
                sizes = f"error: {err}"
        print(f"{name:<12}{sp.modality:<9}{files:<9}{sp.target:<{tw}}"
              f"{sens:<{sw}}{sizes}".rstrip())
    if args.data_dir is not None and not Path(args.data_dir).expanduser().is_dir():
        what = "is a file, not a folder" if Path(args.data_dir).expanduser().exists() else "does not exist"
        print(f"\nnote: --data-dir {args.data_dir} {what}, so every dataset shows as missing")
    if missing:
        print(f"\nmissing ({', '.join(missing)}): `fairdistill datasets NAME` says which files or folder to supply")
    if not args.sizes:
        print("\n(--sizes loads each present dataset and prints its split sizes; `fairdistill datasets NAME` shows "
              "one dataset's options)")
    return 0


def _axes_text(sp) -> str:
    """A dataset's sensitive axes, the default ones first."""
    if sp.sensitive_from_data:
        return "columns of your file (--sensitive COL ...)"
    return ", ".join([*sp.default_sensitive, *(a for a in sp.sensitive if a not in sp.default_sensitive)])


def _describe_dataset(datasets, name: str, data_dir) -> int:
    """One dataset in full: what it is, its files, its sensitive axes and every ``--data-option``."""
    sp = datasets.spec(name)
    present = datasets.files_present(name, data_dir)
    print(f"{sp.name} ({sp.modality}): {sp.description}")
    print(f"target: {sp.target}")
    print(f"sensitive axes (default first): {_axes_text(sp)}")
    print(f"files: {'yours (path=)' if sp.sensitive_from_data else 'present' if present else 'missing'}")
    if not present and not sp.sensitive_from_data:
        try:
            datasets.require_files(name, data_dir)
            print(f"  supply the folder {sp.folder}/ (the standard release) under --data-dir or $FAIRDISTILL_DATA")
        except FairDistillError as err:
            print(f"  {err}")
    lines = sp.options_help()
    print("options (--data-option KEY=VALUE):" if lines else "options: none")
    for line in lines:
        print(f"  {line}")
    return 0


def _para(text: str) -> str:
    """A description paragraph wrapped for the terminal (the formatter keeps descriptions as written)."""
    import textwrap
    return textwrap.fill(text, 100)


def _escape(text: str) -> str:
    """A help text for argparse, which %-formats help strings ("5%" would crash --help)."""
    return text.replace("%", "%%")


def _method_parser(name: str) -> argparse.ArgumentParser:
    from . import methods
    from .models import MODELS
    from .runs import DATA_SEED
    cls = methods.get(name)
    doc = cls._doc_head  # the class docstring without the parameter list, which argparse shows itself
    example = cls.example or "adult"
    if cls.example is None and cls.modalities[0] == "image":  # a CPU budget: 20,000 iterations take a day on CPU
        example = "cmnist-fg --ipc 10" + (" --iterations 200" if "iterations" in cls.param_spec() else "")
    p = _Parser(prog=f"fairdistill run {name}", description=doc, formatter_class=_Formatter,
                epilog=f"example: fairdistill run {name} --dataset {example} --out runs/{name}\n\n{EPILOG}")
    p.add_argument("--dataset", required=True, help="dataset name (see `fairdistill datasets`)")
    p.add_argument("--sensitive", nargs="+", default=None,
                   help="sensitive attribute(s); several give intersectional groups (default: the dataset's)")
    p.add_argument("--out", required=True, help="run folder to create (written atomically)")
    _data_args(p)
    p.add_argument("--data-seed", type=_typed(".runs:DATA_SEED"), default=DATA_SEED.default,
                   help=_escape(DATA_SEED.help))
    p.add_argument("--data-option", action="append", metavar="KEY=VALUE",
                   help="dataset option, repeatable (e.g. protocol=fwc, bias_ratio=0.95)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in OUT.partial/")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument("--evaluate", metavar="MODEL", default=None, choices=list(MODELS),
                   help=f"also evaluate on the real test split with this model ({', '.join(MODELS)}; convnet for "
                        f"images, the others for tabular data); default: none (`fairdistill evaluate DIR` does it "
                        f"later)")
    _quiet_arg(p, default=False)
    g = p.add_argument_group(f"{name} parameters")
    for prm in cls.param_spec().values():
        flag = "--" + prm.name.replace("_", "-")
        kw: dict[str, Any] = {"default": prm.default, "help": _escape(prm.help), "dest": "param_" + prm.name,
                              "type": _typed(prm)}
        if prm.type is bool:  # `--flag` alone means true
            kw.update(metavar="{true,false}", nargs="?", const=True)
        else:  # a short list of choices is shown as such (argparse lists them in the usage line and the help)
            short = prm.choices is not None and len(",".join(map(str, prm.choices))) <= 40
            kw["metavar"] = "{" + ",".join(map(str, prm.choices)) + "}" if short else prm.name.upper()
        g.add_argument(flag, **kw)
    return p


def cmd_run(args) -> int:
    from . import runs
    if args.method in (None, "list"):
        print(_methods_help())
        return 0
    p = _method_parser(args.method)
    ns = p.parse_args(args.rest)
    args.out = ns.out  # for main()'s message when the folder cannot be written
    if ns.quiet:
        from .progress import set_quiet
        set_quiet(True)
    if ns.evaluate:  # checked before the data is loaded and the method runs
        from . import datasets
        runs.check_model(ns.evaluate, datasets.spec(ns.dataset).modality)
    params = {k[6:]: v for k, v in vars(ns).items() if k.startswith("param_")}
    out, syn = runs.execute(args.method, ns.dataset, params=params, sensitive=ns.sensitive, data_dir=ns.data_dir,
                            data_seed=ns.data_seed,
                            dataset_options=_pairs(ns.data_option, "--data-option", "protocol=fwc"), out=ns.out,
                            resume=ns.resume, overwrite=ns.overwrite, trainable=bool(ns.evaluate))
    print(f"wrote {out}: {len(syn)} rows ({syn.modality}), total weight {syn.w.sum():.6g}")
    if ns.evaluate:
        return _evaluate_dir(Path(out), ns.evaluate, repeats=None, seed=0, device="auto", options={})
    return 0


def _methods_help() -> str:
    from . import methods
    names = methods.available()
    width = max(map(len, names)) + 2
    lines = ["methods:"] + [f"  {n:<{width}}{methods.get(n).summary}" for n in names]
    return "\n".join(lines + [
        "", "`fairdistill run METHOD --help` lists a method's options with their defaults. Examples:",
        "  fairdistill run fwc --dataset adult --size 0.01 --out runs/fwc",
        "  fairdistill run fairdd-dm --dataset cmnist-fg --ipc 10 --iterations 200 --out runs/fdd --evaluate convnet"])


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
    opts = {}  # None (from "none") is checked by the option's Param: allowed only where its default is None
    for name in sorted({p.name for m in MODELS.values() for p in m.options}):
        if hasattr(args, "opt_" + name):  # given on the command line ("none" is read by the option's own parser)
            opts[name] = getattr(args, "opt_" + name)
    opts.update(_pairs(args.model_option, "--model-option", "epochs=10"))
    return _evaluate_dir(Path(args.run_dir), args.model, args.repeats, args.seed, args.device, opts, args.data_dir)


def cmd_report(args) -> int:
    from .report import compare
    path = compare(args.run_dirs, args.out, overwrite=args.overwrite)
    lines = path.read_text().splitlines()
    figures = len(list(path.parent.glob("*.png")))
    print("\n".join(ln for ln in lines if "![" not in ln).rstrip())
    print(f"\nwrote {path}" + (f" and {figures} figure(s) beside it" if figures else ""))
    return 0


def cmd_bench(args) -> int:
    from . import bench
    from .fileio import new_parents
    if args.suite in (None, "list"):
        for name, (_, desc) in bench.SUITES.items():
            keys = _suite_keys(bench.get(name))
            print(f"{name:<18}{desc}" + (f"\n{'':<18}--set keys: {', '.join(keys)}" if keys else ""))
        return 0
    fn = bench.get(args.suite)
    from .bench.record import process_commit
    process_commit()  # the code's commit now, not when the first run ends (the checkout may change meanwhile)
    params = inspect.signature(fn).parameters
    accepted = set(_suite_keys(fn))
    extra = _pairs(args.set, "--set", f"{min(accepted)}=VALUE; bench {args.suite} accepts {', '.join(sorted(accepted))}"
                   if accepted else f"KEY=VALUE, but bench {args.suite} accepts none")
    check_members(sorted(extra), f"option(s) of bench {args.suite}", sorted(accepted), hint=" (--set KEY=VALUE)")
    extra = {k: _suite_value(args.suite, params[k], v) for k, v in extra.items()}
    args.out = args.out or ("runs/bench-quick" if args.quick else "benchmarks")
    out = Path(args.out)
    with new_parents(out / f"{args.suite}.json"):  # a suite that fails before writing leaves no folder this call made
        fn(out, data_dir=args.data_dir, seeds=args.seeds, quick=args.quick, device=args.device, **extra)
    md = out / f"{args.suite}.md"
    if md.exists():
        print(md.read_text())
    print(f"results in {out / (args.suite + '.json')}")
    return 0


def _suite_keys(fn) -> list[str]:
    """The ``--set`` keys a suite function takes: its parameters beyond the generic options."""
    return sorted(set(inspect.signature(fn).parameters) - {"out_dir", "data_dir", "seeds", "quick", "device"})


def _suite_value(suite: str, param: inspect.Parameter, value: Any) -> Any:
    """A ``--set KEY=VALUE`` value coerced to the type of the suite function's parameter (its annotation, else its
    default): int, float, bool, str, or a tuple of them (a JSON list or a comma-separated string)."""
    ann = param.annotation if param.annotation is not inspect.Parameter.empty else ""
    ann = ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))
    kinds = [t.strip() for t in ann.split("|") if t.strip() and t.strip() != "None"]
    kind = kinds[0] if kinds else {bool: "bool", int: "int", float: "float", str: "str"}.get(type(param.default), "")
    if value is None:
        if param.default is None or "None" in ann:
            return None
        raise ConfigError(f"--set {param.name}=null is not valid for bench {suite}; give "
                          f"{_KIND_NAMES.get(kind, 'a value')}")
    if kind.startswith(("tuple[", "list[")):
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list):
            items = [items]
        inner = kind[kind.index("[") + 1:].split(",")[0].strip()
        return tuple(_scalar(suite, param.name, v.strip() if isinstance(v, str) else v, inner) for v in items)
    return _scalar(suite, param.name, value, kind)


_KIND_NAMES = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string"}


def _scalar(suite: str, key: str, value: Any, kind: str) -> Any:
    """``value`` as ``kind`` (bool, int, float or str; anything else is passed through) by ``Param.coerce``'s rules
    (a JSON number or boolean given to a str parameter keeps its JSON spelling: notes=true -> "true")."""
    from .params import Param
    typ = {"bool": bool, "int": int, "float": float, "str": str}.get(kind)
    if typ is None:
        return value
    if typ is str and not isinstance(value, str):
        value = json.dumps(value)
    try:
        return Param(key, typ, None, "").coerce(value)
    except ConfigError:
        raise ConfigError(f"--set {key}={value!r} is not valid for bench {suite}; give {_KIND_NAMES[kind]}") from None


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
    p = _Parser(
        prog="fairdistill", formatter_class=_Formatter, epilog=EPILOG,
        description="Turn a large, biased dataset into a small or synthetic one that trains accurate and fair "
                    "models.\n\nTypical use:\n  fairdistill datasets\n  fairdistill run fwc --dataset adult --size "
                    "0.01 --out runs/fwc\n  fairdistill evaluate runs/fwc --model mlp\n  fairdistill report "
                    "runs/fwc runs/random --out runs/compare")
    p.add_argument("--version", action="version", version=f"fairdistill {__version__}")
    _quiet_arg(p, default=False)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    p.commands = sub.choices

    d = sub.add_parser("datasets", help="list datasets, their sensitive attributes and whether files are present",
                       formatter_class=_Formatter, epilog=EPILOG,
                       description=_para("Lists every dataset (kind, whether its files are present, target, "
                                         "sensitive axes); with NAME, one dataset in full with its --data-option "
                                         "options.")
                       + "\n\nexample: fairdistill datasets adult --data-dir ../shared/data")
    _data_args(d)
    d.add_argument("name", nargs="?", default=None, help="show one dataset in full, with its --data-option options")
    d.add_argument("--sizes", action="store_true", help="load each present dataset and print its split sizes")
    _quiet_arg(d)
    d.set_defaults(fn=cmd_datasets)

    r = sub.add_parser("run", help="fit a method on a dataset and write a run folder",
                       description="fairdistill run METHOD --dataset NAME --out DIR [options]; "
                                   "`fairdistill run METHOD --help` lists the method's options.",
                       formatter_class=_Formatter, add_help=True)
    r.add_argument("method", nargs="?", help="method name, or `list`")
    r.add_argument("rest", nargs=argparse.REMAINDER, help="the method's options")
    _quiet_arg(r)
    r.help_extra = _methods_help
    r.set_defaults(fn=cmd_run)

    e = sub.add_parser("evaluate", help="train a model on a run's set, score it on the real test split",
                       formatter_class=_Formatter, epilog=EPILOG,
                       description=_para("Writes DIR/metrics.json (name -> number), DIR/evaluation.json (the "
                                         "protocol used), DIR/groups.json (per test group) and DIR/report.md.")
                       + "\n\nexample: fairdistill evaluate runs/fwc --model mlp --repeats 3")
    e.add_argument("run_dir", help="a run folder written by `fairdistill run`")
    e.add_argument("--model", choices=list(MODELS), default=None,
                   help="downstream model (default: the method's recommendation, else convnet for images, "
                        "mlp for tabular)")
    e.add_argument("--repeats", type=_typed(".evaluation:REPEATS"), default=None,
                   help="models trained with seeds seed..seed+R-1 (default: the method's recommendation, else 5)")
    e.add_argument("--seed", type=_typed(".params:SEED"), default=0, help="first model seed (0..2**32-1)")
    e.add_argument("--device", type=_typed(".params:DEVICE"), default="auto", help=_escape(DEVICE.help))
    _data_args(e, "the folder the run was made from, as config.json records it; when that folder is gone, "
                  "$FAIRDISTILL_DATA, else ~/.cache/fairdistill (bundled and csv files are verified by checksum; "
                  "image folders you supply, such as celeba/, are not)")
    og = e.add_argument_group("model options (default: the model's own, shown per model)")
    per_option: dict[str, list[str]] = {}
    for m in MODELS.values():
        for prm in m.options:
            per_option.setdefault(prm.name, []).append(f"{m.name}: {prm.help}, default {prm.default}")
    for name, texts in per_option.items():
        og.add_argument("--" + name.replace("_", "-"), dest="opt_" + name, type=_value,
                        default=argparse.SUPPRESS, metavar=name.upper(), help=_escape("; ".join(texts)))
    og.add_argument("--model-option", action="append", metavar="KEY=VALUE", help="any other model option")
    _quiet_arg(e)
    e.set_defaults(fn=cmd_evaluate)

    rp = sub.add_parser("report", help="compare runs: table, fairness-vs-accuracy plot, per-group bars, grids",
                        formatter_class=_Formatter,
                        description="Compare run folders (evaluate them first with `fairdistill evaluate`).\n"
                                    "Writes OUT/comparison.md (one row per run: dataset, rows, model and repeats,\n"
                                    "headline metrics), tradeoff.png (fairness vs accuracy), groups.png (per-group\n"
                                    "test accuracy) and grid_RUN.png per image set, and prints the table.\n\n"
                                    "example: fairdistill report runs/fwc runs/uniform --out runs/compare")
    _quiet_arg(rp)
    rp.add_argument("run_dirs", nargs="+", help="run folders (evaluated ones show metrics)")
    rp.add_argument("--out", default="report", help="folder for comparison.md and figures: a new one, or with "
                    "--overwrite an empty one or an earlier report")
    rp.add_argument("--overwrite", action="store_true", help="replace the earlier report in --out (all of it)")
    rp.set_defaults(fn=cmd_report)

    b = sub.add_parser("bench", help="reproduce the papers' tables and time the methods (results as JSON)",
                       formatter_class=_Formatter, epilog=EPILOG,
                       description=_para("Runs a benchmark suite and writes OUT/SUITE.json (results with the "
                                         "command, commit and machine), SUITE.md (the table) and, for some, SUITE.png. "
                                         "`fairdistill bench list` names the suites and the --set keys each takes.")
                       + "\n\nexample: fairdistill bench fwc-paper --quick --data-dir ../shared/data")
    b.add_argument("suite", nargs="?", help="suite name, or `list`")
    b.add_argument("--out", default=None, help="folder for SUITE.json / .md / .png (default: benchmarks, the "
                   "committed results; with --quick runs/bench-quick, so a smoke test never replaces them)")
    _data_args(b)
    b.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the suite's)")
    b.add_argument("--quick", action="store_true", help="the suite's smoke-test configuration (its smallest "
                   "settings: seconds to a few minutes), written to runs/bench-quick unless --out says otherwise")
    b.add_argument("--device", type=_typed(".params:DEVICE"), default="auto", help=_escape(DEVICE.help))
    b.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="suite-specific option, repeatable (e.g. fairdd-paper: protocol=full, jobs=4, "
                        "datasets=[\"cmnist-fg\"]; fwc-paper: datasets=crime,drug (with --quick too); "
                        "fair4free-paper, fair4free-smode: cases=compas/sex; "
                        "fwc-paper, fair4free-paper, intersectional: resume=true keeps the finished runs in --out "
                        "and runs only what is missing; `fairdistill bench list` gives every suite's keys)")
    _quiet_arg(b)
    b.set_defaults(fn=cmd_bench)

    dm = sub.add_parser("demo", help="a real method on real data with a fairness/accuracy table (< 2 min on CPU)",
                        formatter_class=_Formatter, epilog=EPILOG,
                        description=_para("Builds four training sets on Adult (sensitive: sex): the whole training "
                                          "set, uniform 1%, k-means 1% with reweighing and FWC 1% (ε 0.05); trains "
                                          "the downstream MLP on each, prints AUC, accuracy and parity side by side "
                                          "and writes the run folders and a comparison report into --out.")
                        + "\n\nexample: fairdistill demo --data-dir ../shared/data --out runs/demo")
    _data_args(dm)
    dm.add_argument("--out", default="runs/demo", help="folder for the demo's run folders and report")
    dm.add_argument("--seed", type=_typed(".params:SEED"), default=0,
                    help="seed of the data split and the methods (0..2**32-1)")
    _quiet_arg(dm)
    dm.set_defaults(fn=cmd_demo)

    dl = sub.add_parser("download", help="fetch a dataset's files with checksum verification (needs internet)",
                        formatter_class=_Formatter,
                        description=_para("Downloads a dataset's files into --data-dir (else the cache), checks "
                                          "their SHA-256 and writes nothing on a failed transfer. Datasets you must "
                                          "supply (CIFAR-10, CelebA, UTKFace, BFFHQ, csv) say where to put them.")
                        + "\n\nexample: fairdistill download adult --data-dir data")
    dl.add_argument("dataset", help="dataset name")
    _data_args(dl)
    _quiet_arg(dl)
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


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, a batch scheduler): raised by the handler ``main`` installs, so that it cleans up as
    Ctrl-C does (a ``.partial`` folder without a checkpoint is removed, one with a checkpoint kept)."""


def _on_sigterm(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    if os.getpid() != _on_sigterm.pid:  # a forked child: plain termination
        os.kill(os.getpid(), signal.SIGTERM)
        return
    raise Terminated()


def _os_error(err: OSError, out: str | None) -> str:
    """``cannot write OUT: <strerror>`` when the failing path is the output folder OUT, inside it, one of its
    parents or its temporary siblings (OUT.partial, .OUT.tmp-*); otherwise the failing path and the reason."""
    name = str(err.filename or "")
    reason = err.strerror or str(err)
    if out:
        o = Path(out).resolve()
        p = Path(name).resolve() if name else o
        if p == o or o in p.parents or p in o.parents or (p.parent == o.parent and o.name in p.name):
            return f"cannot write {out}: {reason}; choose another folder"
    return f"{name}: {reason}" if name else reason


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line, without the source line Python shows: ``fairdistill: warning: MESSAGE`` (the category
    added when it is not a plain UserWarning)."""
    kind = "" if category is UserWarning else f" [{category.__name__}]"
    print(f"fairdistill: warning: {' '.join(str(message).split())}{kind}", file=file or sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # reported by the subcommand that was given them, with its --help and a close option name
        parser.commands.get(args.command, parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if args.quiet:
        from .progress import set_quiet
        set_quiet(True)
    if not getattr(args, "fn", None):
        parser.print_help()
        return 0
    previous = None
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):  # a handler someone else installed stays
        try:
            _on_sigterm.pid = os.getpid()
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread: leave signals alone
            previous = None
    try:
        with warnings.catch_warnings():  # the previous display comes back after the command
            warnings.showwarning = _show_warning
            _set_threads(os.environ.get("FAIRDISTILL_THREADS"))
            return args.fn(args)
    except FairDistillError as err:
        print(f"fairdistill: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `fairdistill datasets | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as err:
        print(f"fairdistill: error: {_os_error(err, getattr(args, 'out', None))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        what, code = ("terminated (SIGTERM)", 143) if isinstance(err, Terminated) else ("interrupted", 130)
        print("; ".join([f"fairdistill: {what}", *getattr(err, "__notes__", [])]), file=sys.stderr)
        return code
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

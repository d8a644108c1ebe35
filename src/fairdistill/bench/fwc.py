"""FWC benchmark ``fwc-scale``: run time and memory from n = 1e3 to 1e6 on the synthetic data of DATASETS.md §3,
and the inner solver against HiGHS on the same inner problem. (``fwc-paper`` lives in ``fwc_paper.py``.)"""
from __future__ import annotations

import numpy as np

from ..dataset import FairDataset
from .common import check_seeds, shown


def synthetic(n: int, p: int = 25, seed: int = 0) -> FairDataset:
    """DATASETS.md §3: D ~ Bernoulli(0.5); X1 ~ U[0, 10] if D = 0 else 0; X2 = 5·N(0, 1); p − 2 further N(0, 1)
    columns; Y = 1[X1 + X2 > mean(X1 + X2) + N(0, 1)]."""
    rng = np.random.default_rng(seed)
    d = rng.integers(0, 2, n)
    X = rng.standard_normal((n, p))
    X[:, 0] = np.where(d == 0, rng.uniform(0.0, 10.0, n), 0.0)
    X[:, 1] = 5.0 * rng.standard_normal(n)
    t = X[:, 0] + X[:, 1]
    y = (t > t.mean() + rng.standard_normal(n)).astype(np.int64)
    return FairDataset(X=X.astype(np.float32), y=y, s=d[:, None], sensitive_names=["d"], name=f"fwc-synthetic-{n}",
                       n_classes=2, sensitive_values=[["0", "1"]], feature_names=[f"x{i + 1}" for i in range(p)])


# ------------------------------------------------------------------------------------------------- fwc-scale
SCALE_N = (1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000)
HIGHS_MAX_N = 100_000  # HiGHS on the aggregated LP beyond this takes minutes
STRICT_TOL, LOOSE_TOL = 1e-7, 1e-4  # METHODS.md §6 stop rule, and the looser rule whose cost the benchmark shows
TARGETS = {"total_s_at_1e6": 120.0, "peak_gib_at_1e6": 4.0, "s_per_iter_at_1e5": 1.0, "speedup_vs_ipm_from_3e4": 10.0,
           "objective_rel_gap": 1e-6}


def _worker(n: int, seed: int, m: int, p: int, highs: bool, device: str, tol: float = STRICT_TOL,
            threads: int = 1) -> dict:
    """One FWC run at size n with stop tolerance ``tol`` on ``threads`` torch threads (in its own process, so
    ru_maxrss is this run's peak), plus, if ``highs``, the inner-solver race."""
    import os
    import resource
    import time

    import torch

    from ..methods.fwc.allocation import allocate_cells
    from ..methods.fwc.dual import fairness_matrix, restricted_lp, solve_inner
    from ..methods.fwc.encoding import encode
    from ..methods.fwc.estimator import FWC
    from ..methods.fwc.mm import init_centers
    from ..methods.fwc.nearest import aggregate
    from ..progress import set_quiet

    set_quiet(True)
    torch.set_num_threads(int(threads))
    data = synthetic(n, p, seed)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    est = FWC(size=m, epsilon=0.05, cost="l1", seed=seed, device=device, tol=tol).fit(data)
    total = time.perf_counter() - t0
    cpu_fit = time.process_time() - cpu0
    pv = est.synthetic_.provenance
    per = np.asarray(pv["seconds_per_iteration"])
    inner = pv["inner"]
    out = {
        "n": n, "m": m, "p": p, "seed": seed, "tol": tol, "max_iter": est.max_iter, "init_sample": est.init_sample,
        "torch_threads": torch.get_num_threads(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cpu_count": os.cpu_count(),
        "iterations": pv["iterations"], "stop": pv["stop"], "total_s": round(total, 3),
        "total_cpu_s": round(cpu_fit, 3),
        "mm_s": round(float(per.sum()), 3), "init_s": round(pv["init_seconds"], 3),
        "s_per_iter_mean": round(float(per.mean()), 4), "s_per_iter_max": round(float(per.max()), 4),
        "cost_s_mean": round(float(np.mean([r["cost_s"] for r in inner])), 4),
        "solve_s_mean": round(float(np.mean([r["solve_s"] for r in inner])), 4),
        "update_s_mean": round(float(np.mean([r.get("update_s", 0.0) for r in inner])), 4),
        "all_certified": bool(all(r["certified"] for r in inner)),
        "max_rel_gap": float(max(r["gap"] / max(1.0, f) for r, f in zip(inner, pv["objective"]))),
        "objective_first": pv["objective"][0], "objective_last": pv["objective"][-1], "j_max": pv["j_max"],
        "objective": pv["objective"], "seconds_per_iteration": pv["seconds_per_iteration"],
    }
    if highs:  # the first MM iteration's inner problem, solved cold by each solver
        enc = encode(data)
        alloc = allocate_cells(m, enc)
        centers = init_centers(enc.X, enc.cells, enc.d, alloc, enc.n_labels, seed, est.init_sample)
        c, _ = aggregate(enc.X, centers, np.r_[0, np.cumsum(alloc)], enc.d, enc.y, enc.n_labels)
        A = fairness_matrix(enc.n_groups, enc.p_target, 0.05)
        res = solve_inner(c, A)
        race = {"accpm_s": round(res.seconds, 4), "accpm_value": res.value, "accpm_certified": res.certified}
        for method in ("highs-ipm", "highs-ds"):
            t1 = time.perf_counter()
            lp = restricted_lp(c, A, np.zeros(A.shape[1]), 0.0, method=method, options={"time_limit": 300.0})
            secs = time.perf_counter() - t1
            val = None if lp is None else lp[2] / n
            race[method] = {"s": round(secs, 4), "value": val,
                            "speedup": round(secs / max(res.seconds, 1e-9), 2),
                            "rel_gap": None if val is None else abs(res.value - val) / abs(val)}
        out["inner_vs_highs"] = race
    use = resource.getrusage(resource.RUSAGE_SELF)
    out["peak_rss_gib"] = round(use.ru_maxrss / 2 ** 20, 3)
    out["cpu_s_process"] = round(use.ru_utime + use.ru_stime, 2)
    out["load_average_1min"] = round(os.getloadavg()[0], 2)
    return out


def _run_worker(args: dict) -> dict:
    """``_worker`` in a fresh interpreter whose BLAS/OpenMP pools have ``args["threads"]`` threads."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(args.get("threads", 1))
    code = ("import json, sys; from fairdistill.bench.fwc import _worker; "
            "print('RESULT ' + json.dumps(_worker(**json.loads(sys.argv[1]))))")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines()[::-1]:
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"n": args["n"], "tol": args.get("tol"), "error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}


def _pair(strict: dict, loose: dict) -> dict:
    """What the looser stop rule costs at one n: iterations, time and the relative objective gap to the strict run.
    Both runs start from the same initialisation and the MM is deterministic, so the loose run's objective should
    equal the strict run's objective at the same iteration (``prefix_match``)."""
    if "error" in strict or "error" in loose:
        return {"n": strict["n"], "error": strict.get("error") or loose.get("error")}
    k = loose["iterations"]
    ref = strict["objective"][k - 1] if k <= len(strict["objective"]) else None
    return {"n": strict["n"], "strict_iterations": strict["iterations"], "loose_iterations": k,
            "strict_total_s": strict["total_s"], "loose_total_s": loose["total_s"],
            "time_ratio": round(strict["total_s"] / max(loose["total_s"], 1e-9), 2),
            "objective_strict": strict["objective_last"], "objective_loose": loose["objective_last"],
            "rel_objective_gap": (loose["objective_last"] - strict["objective_last"]) / strict["objective_last"],
            "prefix_match": None if ref is None else abs(loose["objective_last"] - ref) <= 1e-9 * abs(ref),
            # wall time the strict run (same process load) needed to reach the loose stop: init + first k iterations
            "strict_s_to_loose_stop": None if "seconds_per_iteration" not in strict else
            round(strict["init_s"] + float(np.sum(strict["seconds_per_iteration"][:k])), 3)}


def _markdown(rows: list[dict], pairs: list[dict]) -> str:
    strict = [r for r in rows if r.get("tol") == STRICT_TOL]
    head = ("| n | iters | stop | total s | init s | s/iter | cost s | solve s | update s | peak GiB | J_max | "
            "accpm s | HiGHS-IPM s (×) | HiGHS-DS s (×) | rel. gap |\n|" + "---|" * 15 + "\n")
    lines = []
    for r in strict:
        if "error" in r:
            lines.append(f"| {r['n']} | error: {r['error']} |" + " |" * 13)
            continue
        race = r.get("inner_vs_highs")
        if race:
            ipm, ds = race["highs-ipm"], race["highs-ds"]
            extra = (f"{race['accpm_s']:.3f} | {ipm['s']:.2f} ({ipm['speedup']:.0f}×) | {ds['s']:.2f} "
                     f"({ds['speedup']:.0f}×) | {max(ipm['rel_gap'] or 0, ds['rel_gap'] or 0):.1e}")
        else:
            extra = "– | – | – | –"
        lines.append(f"| {r['n']:,} | {r['iterations']} | {r['stop']} | {r['total_s']:.1f} | {r['init_s']:.1f} | "
                     f"{r['s_per_iter_mean']:.3f} | {r['cost_s_mean']:.3f} | {r['solve_s_mean']:.3f} | "
                     f"{r['update_s_mean']:.3f} | {r['peak_rss_gib']:.2f} | {r['j_max']:.4f} | {extra} |")
    loose = {r["n"]: r for r in rows if r.get("tol") == LOOSE_TOL and "error" not in r}
    strict_by_n = {r["n"]: r for r in strict if "error" not in r}
    head2 = (f"| n | iters tol={STRICT_TOL:g} | iters tol={LOOSE_TOL:g} | total s strict (CPU s) | total s loose "
             "(CPU s) | speed-up | peak GiB loose | J_max loose | rel. objective gap (loose − strict)/strict | same "
             "as strict at that iteration |\n|" + "---|" * 10 + "\n")
    lines2 = []
    for q in pairs:
        if "error" in q:
            lines2.append(f"| {q['n']:,} | error: {q['error']} |" + " |" * 8)
            continue
        lo, st = loose[q["n"]], strict_by_n[q["n"]]
        lines2.append(f"| {q['n']:,} | {q['strict_iterations']} | {q['loose_iterations']} | "
                      f"{q['strict_total_s']:.1f} ({st['total_cpu_s']:.0f}) | "
                      f"{q['loose_total_s']:.1f} ({lo['total_cpu_s']:.0f}) | {q['time_ratio']:.1f}× | "
                      f"{lo['peak_rss_gib']:.2f} | "
                      f"{lo['j_max']:.4f} | {q['rel_objective_gap']:.2e} | {q['prefix_match']} |")
    return ("## Strict stop rule (tol = 1e-7, max_iter = 100; METHODS.md §6)\n\n" + head + "\n".join(lines)
            + f"\n\n## Strict versus tol = {LOOSE_TOL:g} (same initialisation)\n\n" + head2 + "\n".join(lines2) + "\n")


def _verdict(rows: list[dict], pairs: list[dict]) -> dict:
    by_n = {r["n"]: r for r in rows if "error" not in r and r.get("tol") == STRICT_TOL}
    loose = {r["n"]: r for r in rows if "error" not in r and r.get("tol") == LOOSE_TOL}
    gaps = {q["n"]: q["rel_objective_gap"] for q in pairs if "error" not in q}
    out = {}
    for label, runs in ((f"tol={STRICT_TOL:g}", by_n), (f"tol={LOOSE_TOL:g}", loose)):
        if 1_000_000 in runs:
            r = runs[1_000_000]
            out[f"total_s_at_1e6 ({label})"] = {"measured": r["total_s"], "target": TARGETS["total_s_at_1e6"],
                                                "met": r["total_s"] <= TARGETS["total_s_at_1e6"],
                                                "iterations": r["iterations"], "total_cpu_s": r["total_cpu_s"],
                                                "load_average_1min": r["load_average_1min"],
                                                "rel_objective_gap_to_strict":
                                                    0.0 if runs is by_n else gaps.get(r["n"])}
            out[f"peak_gib_at_1e6 ({label})"] = {"measured": r["peak_rss_gib"], "target": TARGETS["peak_gib_at_1e6"],
                                                 "met": r["peak_rss_gib"] <= TARGETS["peak_gib_at_1e6"]}
    if 100_000 in by_n:
        r = by_n[100_000]
        out["s_per_iter_at_1e5"] = {"measured": r["s_per_iter_mean"], "target": TARGETS["s_per_iter_at_1e5"],
                                    "met": r["s_per_iter_mean"] <= TARGETS["s_per_iter_at_1e5"]}
    races = [(n, r["inner_vs_highs"]) for n, r in by_n.items() if "inner_vs_highs" in r]
    big = [(n, x) for n, x in races if n >= 30_000]
    if big:
        worst = min(x["highs-ipm"]["speedup"] for _, x in big)
        out["speedup_vs_ipm_from_3e4"] = {"measured": worst, "target": TARGETS["speedup_vs_ipm_from_3e4"],
                                          "met": worst >= TARGETS["speedup_vs_ipm_from_3e4"]}
    if races:
        gaps = [x[k]["rel_gap"] for _, x in races for k in ("highs-ipm", "highs-ds") if x[k]["rel_gap"] is not None]
        out["objective_rel_gap"] = {"measured": max(gaps), "target": TARGETS["objective_rel_gap"],
                                    "met": max(gaps) <= TARGETS["objective_rel_gap"]}
    return out


def _notes(rows: list[dict], threads: int) -> str:
    ok = [r for r in rows if "error" not in r]
    if not ok:
        return ""
    load = [r["load_average_1min"] for r in ok]
    return (f"Each run is a fresh process with {threads} torch/OpenMP/BLAS threads (os.cpu_count()); k-means "
            f"initialisation on at most {ok[0]['init_sample']:,} rows per (group, label) cell. The machine was shared: "
            f"1-minute load average {min(load):.1f}–{max(load):.1f} at the end of the runs, so wall times are noisy "
            "(compare total_cpu_s in the JSON). The tol = 1e-4 run starts from the same initialisation as the strict "
            "run; its objective is the strict run's objective at the iteration where it stops.\n")


def scale(out_dir, *, data_dir=None, seeds: int | None = None, quick: bool = False, device: str = "auto",
          ns=None) -> dict:
    """``fwc-scale``: FWC (m = 250, p = 25, L1, ε = 0.05) on the synthetic generator for n = 1e3 … 1e6, one
    subprocess per run (peak memory = its ru_maxrss) on os.cpu_count() threads. For every n two runs from the same
    initialisation: the strict stop rule (tol = 1e-7, max_iter 100; METHODS.md §6) and tol = 1e-4 — iterations,
    time per iteration (cost / inner solve / update), total time, and the loose result's relative objective gap to
    the strict one. For n <= 1e5 the first inner problem is also solved cold by the cutting-plane solver and by HiGHS
    (interior point and dual simplex): time ratio and objective gap. ``quick``: n in {1000, 3000}. ``seeds``: how many
    times the whole n grid is run, with data seeds 0..N-1 (default 1). ``data_dir`` is not accepted (ConfigError):
    the data are generated."""
    import os
    from pathlib import Path

    from ..progress import log
    from .common import reject_ignored

    reject_ignored("fwc-scale", {"--data-dir": data_dir is not None},
                   "--seeds (repetitions of the n grid), --quick, --device and --set ns=[...]; its data are generated")
    check_seeds(seeds)
    out_dir = Path(out_dir)
    ns = tuple(ns) if ns is not None else (1_000, 3_000) if quick else SCALE_N
    threads = os.cpu_count() or 1
    rows, pairs = [], []
    for seed in range(seeds or 1):
        for n in ns:
            runs = {}
            for tol in (LOOSE_TOL, STRICT_TOL):  # the short run first: at 1e6 the strict one takes many minutes
                log(f"[fwc-scale] n={n} seed={seed} tol={tol:g} threads={threads}")
                race = n <= HIGHS_MAX_N and tol == STRICT_TOL
                r = _run_worker({"n": n, "seed": seed, "m": 250, "p": 25, "highs": race, "device": device, "tol": tol,
                                 "threads": threads})
                rows.append(r)
                runs[tol] = r
                log(f"[fwc-scale] {({k: v for k, v in r.items() if k not in ('objective', 'seconds_per_iteration')})}")
                if tol == LOOSE_TOL:  # partial results stay on disk while the strict run goes on
                    results = _write(out_dir, rows, pairs, ns, seeds, device, threads)
            pairs.append(_pair(runs[STRICT_TOL], runs[LOOSE_TOL]))
            results = _write(out_dir, rows, pairs, ns, seeds, device, threads)
    return results


def _write(out_dir, rows: list[dict], pairs: list[dict], ns, seeds, device: str, threads: int) -> dict:
    from ..fileio import write_text
    from .record import write_results

    config = {"n": list(ns), "m": 250, "p": 25, "cost": "l1", "epsilon": 0.05, "max_iter": 100,
              "tols": [STRICT_TOL, LOOSE_TOL], "threads": threads, "seeds": seeds or 1, "device": device,
              "targets": TARGETS}
    results = {"runs": rows, "strict_vs_loose": pairs, "targets": _verdict(rows, pairs)}
    write_results(out_dir / "fwc-scale.json", "fwc-scale", results, config)
    write_text(out_dir / "fwc-scale.md", render_markdown(results, threads))
    return results


def render_markdown(results: dict, threads: int) -> str:
    """The Markdown report of ``fwc-scale`` from its results (also usable on a saved JSON's ``results``)."""
    rows, pairs = results["runs"], results["strict_vs_loose"]
    return ("# fwc-scale: FWC run time and memory (synthetic data, m = 250, p = 25, L1, ε = 0.05, "
            f"{threads} threads)\n\n" + _markdown(rows, pairs) + "\nTargets: " + "; ".join(
                f"{k}: {shown(v['measured'])} vs {shown(v['target'])} ({'met' if v['met'] else 'NOT met'})"
                + (f" [CPU {v['total_cpu_s']:.0f} s, {v['iterations']} iterations, "
                   f"load {shown(v['load_average_1min'])}]" if "total_cpu_s" in v else "")
                + (f", objective gap to strict {v['rel_objective_gap_to_strict']:.2e}"
                   if v.get("rel_objective_gap_to_strict") else "")
                for k, v in results["targets"].items()) + "\n\n" + _notes(rows, threads))

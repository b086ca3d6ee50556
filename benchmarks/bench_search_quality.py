"""Benchmark: does the search's first finalist beat the best baseline, dataset by dataset?

Issue 22's quality target: on the development suite's 9 binary datasets plus HIGGS, Forest
Cover and Spambase, each searched on its own with the default settings, the first finalist
is never significantly worse than the best baseline chosen on validation, and significantly
better (Holm) on at least 6 of the 12; today's search beside the new one.

Each source tree is run as a user runs it, a whole ``symact search`` command per dataset
(``python -m symact`` with ``PYTHONPATH=<tree>/src``, its own kernel cache), the same
arguments for every tree: a development-suite file by path with its target and positive
class, HIGGS, Forest Cover and Spambase by name from ``--data-dir``. The table reads each
search's own ``search_results.csv``: candidate 1 against the best baseline *that search*
chose on validation (the newer search has more baselines: PReLU and param:ReLU), the test
difference by seed with its 95% interval and Holm p, and whether the finalist was offered
(the newer search offers it only where it beat that baseline on the selection rows). Every
search's folder is kept under ``--out``, so a rerun reuses the stored runs of a finished
dataset and prints the table again.

    python benchmarks/bench_search_quality.py --data-dir DIR --tree new=. \\
        --tree old=/path/to/a/checkout/of/20cdf07 [--datasets banana,german] [--out DIR]

DIR holds the development suite's files (../shared/data/tabular/*.csv.gz) and the
registry's canonical names (HIGGS.csv.gz, covtype.data.gz, spambase.data; see .ci/run).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

#: The 12 binary datasets of the target: (name, file or registry name, target, positive).
DATASETS: tuple[tuple[str, str, str | None, str | None], ...] = (
    ("german", "german.csv.gz", "class", "2"),
    ("titanic", "titanic.csv.gz", "class", "1.0"),
    ("chess", "chess.csv.gz", "class", "nowin"),
    ("spambase", "spambase", None, None),
    ("banana", "banana.csv.gz", "class", "1.0"),
    ("phoneme", "phoneme.csv.gz", "class", "1"),
    ("mushroom", "mushroom.csv.gz", "class", "p"),
    ("twonorm", "twonorm.csv.gz", "class", "1"),
    ("ring", "ring.csv.gz", "class", "1"),
    ("higgs", "higgs", None, None),
    ("magic", "magic.csv.gz", "class", "h"),
    ("covertype", "covertype", None, None),
)


def search_argv(data_dir: Path, source: str, target: str | None, positive: str | None):
    if target is None:
        return ["--dataset", source, "--data-dir", str(data_dir)]
    path = data_dir / source
    return ["--dataset", str(path), "--target", target, "--positive", positive]


def run(tree: Path, argv: list[str], out: Path, kernels: Path) -> tuple[float, float, int]:
    """One whole command: (wall seconds, CPU seconds of it and its children, exit status)."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "SYMACT_KERNEL_DIR": str(kernels)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with out.with_suffix(".log").open("w") as log:
        status = subprocess.run(
            [sys.executable, "-m", "symact", "search", *argv, "--out", str(out)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        ).returncode
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, status


def first_finalist(results: Path) -> dict[str, str] | None:
    """Candidate 1's row of a search's verdict, or None where the search has none."""
    if not results.exists():
        return None
    with results.open(newline="") as f:
        return next((r for r in csv.DictReader(f) if r["activation"] == "candidate 1"), None)


def verdict(row: dict[str, str] | None) -> tuple[str, str]:
    """(difference text, better / worse / not decidable) from a verdict row."""
    if row is None:
        return "no finalist", "-"
    d, lo, hi = (float(row[k]) for k in ("diff_vs_best_baseline", "ci_low", "ci_high"))
    p = float(row["p_holm"])
    text = f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}] vs {row['best_baseline']}, Holm p {p:.3g}"
    call = "not decidable" if math.isnan(p) or p >= 0.05 else "better" if d > 0 else "worse"
    if row.get("offered", "True") in ("False", "false", "0"):
        call += " (not offered)"
    return text, call


def rungs_text(doc_path: Path) -> str:
    """Each rung's Spearman with the one before, "0.94 / 0.37" (the fidelity of the rungs),
    and the median epochs the last rung's runs trained where it trained to convergence."""
    if not doc_path.exists():
        return "-"
    doc = json.loads(doc_path.read_text())
    rhos = [r["spearman"] for r in doc.get("rungs", [])[1:]]
    if not rhos:
        return "(no rungs)"
    text = " / ".join("-" if v is None else f"{v:.2f}" for v in rhos)
    if doc["rungs"][-1].get("patience") is not None:
        store = doc_path.parent / "symact.sqlite"
        with sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True) as conn:
            rows = conn.execute(
                "SELECT json_extract(result, '$.epochs_run') FROM runs "
                "WHERE json_extract(spec, '$.train.patience') IS NOT NULL"
            ).fetchall()
        epochs = sorted(int(e) for (e,) in rows if e is not None)
        if epochs:
            text += f" (converged runs: median {epochs[len(epochs) // 2]} epochs)"
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--tree", action="append", required=True, help="LABEL=PATH, repeatable")
    ap.add_argument("--datasets", default=",".join(d[0] for d in DATASETS))
    ap.add_argument("--out", type=Path, default=Path("bench-search-quality"))
    ap.add_argument(
        "--table-only", action="store_true", help="print the table of the searches in --out"
    )
    args = ap.parse_args()
    trees = [(t.split("=", 1)[0], Path(t.split("=", 1)[1]).resolve()) for t in args.tree]
    chosen = args.datasets.split(",")
    rows = []
    for name, source, target, positive in DATASETS:
        if name not in chosen:
            continue
        argv = search_argv(args.data_dir.resolve(), source, target, positive)
        for label, tree in trees:
            out = args.out.resolve() / label / name
            out.parent.mkdir(parents=True, exist_ok=True)
            if args.table_only:
                wall = cpu = math.nan
                status = 0 if (out / "search_results.csv").exists() else -1
            else:
                kernels = args.out.resolve() / f"kernels-{label}"
                wall, cpu, status = run(tree, argv, out, kernels)
            text, call = verdict(first_finalist(out / "search_results.csv"))
            rungs = rungs_text(out / "search.json")
            rows.append((name, label, status, wall, cpu, text, call, rungs))
            print(
                f"{name:10} {label:5} exit {status}  {wall:7.0f} s wall {cpu:7.0f} s CPU  "
                f"{text}  {call}  rungs {rungs}",
                flush=True,
            )
    print()
    print(
        "| dataset | search | candidate 1 − best baseline (test, 95% CI) | verdict | "
        "Spearman between rungs | time |"
    )
    print("|---|---|---|---|---|---|")
    for name, label, status, wall, cpu, text, call, rungs in rows:
        shown = text if status == 0 else f"exit {status}: see {label}/{name}.log"
        print(f"| {name} | {label} | {shown} | {call} | {rungs} | {wall:.0f} s ({cpu:.0f} CPU-s) |")
    for label, _ in trees:
        calls = [r[6] for r in rows if r[1] == label]
        better = sum(c == "better" for c in calls)
        worse = sum(c.startswith("worse") for c in calls)
        print(f"{label}: better on {better}, worse on {worse}, of {len(calls)}")


if __name__ == "__main__":
    main()

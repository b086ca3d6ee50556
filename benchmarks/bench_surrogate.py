"""Benchmark: the surrogate pre-screen against no pre-screen, 3 search seeds each.

Whole ``symact search`` commands on real data (the covertype copy, binary Lodgepole Pine
against the rest): for each search seed, one search without the surrogate (``--budget N``
candidates trained) and one with it (``--surrogate knn --budget N/2``: half the candidates
trained, proposals it predicts below the population's median left untrained), and, as the
control, one without it at ``--budget N/2`` (is half the budget enough anyway?). Each search's
finalists are chosen as always: the ``--rerank`` best shapes trained again on validation at
``--final-epochs`` with fresh seeds; the best of them is the search's *final validation
score*. The issue's target: the surrogate reaches the same final validation score with
<= 50 % of the candidates trained. Printed: per seed and on average, the final validation
score, the best search fitness, candidates trained and screened, the surrogate's Spearman
on what it let through, and the command's time.

    python benchmarks/bench_surrogate.py --data-dir DIR [--budget 400] [--rows 10000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def search(out: Path, args: argparse.Namespace, seed: int, extra: list[str]) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "symact",
        "search",
        "--dataset",
        "covertype",
        "--data-dir",
        str(args.data_dir),
        "--rows",
        str(args.rows),
        "--seed",
        str(seed),
        "--epochs",
        str(args.epochs),
        "--rerank",
        "5",
        "--top",
        "1",
        "--final-epochs",
        str(args.final_epochs),
        "--final-seeds",
        "3",  # the fewest a verdict takes; the verdict is not what is measured here
        "--no-specialist-baseline",
        "--out",
        str(out),
        *extra,
    ]
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    doc = json.loads((out / "search.json").read_text())
    with (out / "search_results.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    final = max(float(r["val_score"]) for r in rows if r["activation"].startswith("candidate"))
    fits = [c["fitness"] for c in doc["candidates"] if c["fitness"] is not None]
    record = doc.get("surrogate") or {}
    return {
        "final": final,
        "fitness": max(fits),
        "trained": doc["trained"],
        "screened": record.get("screened", 0),
        "spearman": record.get("spearman"),
        "seconds": seconds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, type=Path, help="folder with covtype.data.gz")
    ap.add_argument("--budget", type=int, default=400, help="candidates trained without it")
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--final-epochs", type=int, default=6)
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-surrogate-"))
    os.environ.setdefault("SYMACT_KERNEL_DIR", str(tmp / "kernels"))
    arms = {
        "off": ["--budget", str(args.budget)],
        "knn": ["--budget", str(args.budget // 2), "--surrogate", "knn"],
        # the control: half the candidates trained without the surrogate (if this is as good,
        # the surrogate saved nothing a smaller budget would not)
        "off, half": ["--budget", str(args.budget // 2)],
    }
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, list[dict]] = {arm: [] for arm in arms}
    for seed in seeds:
        for arm, extra in arms.items():
            results[arm].append(search(tmp / f"{arm}{seed}", args, seed, extra))
    print(f"\n## bench_surrogate ({os.cpu_count()} cores, load {os.getloadavg()[0]:.2f})\n")
    print(
        f"covertype, {args.rows:,} rows, {args.epochs} epochs per candidate, finalists "
        f"re-scored at {args.final_epochs} epochs (5 shapes, fresh seeds)\n"
    )
    print(
        "| surrogate | seed | final val score | best search fitness | trained | screened "
        "| Spearman (let through) | command s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for arm in arms:
        for seed, r in zip(seeds, results[arm], strict=True):
            rho = "" if r["spearman"] is None else f"{r['spearman']:.3f}"
            print(
                f"| {arm} | {seed} | {r['final']:.4f} | {r['fitness']:.4f} | {r['trained']} "
                f"| {r['screened']} | {rho} | {r['seconds']:.0f} |"
            )
    print("\n| surrogate | mean final val score | mean best fitness | mean trained | mean s |")
    print("|---|---:|---:|---:|---:|")
    for arm in arms:
        rs = results[arm]
        print(
            f"| {arm} | {statistics.mean(r['final'] for r in rs):.4f} "
            f"| {statistics.mean(r['fitness'] for r in rs):.4f} "
            f"| {statistics.mean(r['trained'] for r in rs):.0f} "
            f"| {statistics.mean(r['seconds'] for r in rs):.0f} |"
        )
    share = sum(r["trained"] for r in results["knn"]) / sum(r["trained"] for r in results["off"])
    print(f"\ntrained with the surrogate: {share:.0%} of those without it")
    for arm in ("knn", "off, half"):
        diffs = [a["final"] - o["final"] for a, o in zip(results[arm], results["off"], strict=True)]
        print(
            f"{arm} - off, final validation score per seed: "
            + ", ".join(f"{d:+.4f}" for d in diffs)
            + f" (mean {statistics.mean(diffs):+.4f})"
        )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

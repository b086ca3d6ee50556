"""Benchmark: gplearn against Operon as the discovery engine, on the paper suite.

For each engine, runs ``symact benchmark --suite paper --engine E`` (the same sample, seed
and function set; each engine in its own results folder, so reruns resume) and prints, per
dataset: discovery seconds, the Specialist's test AUC, Light ReLU's and their difference
(mean over the training seeds), and the discovered formula's size. ``--reference lightgbm``
adds gradient-boosted trees' AUC as context.

    python benchmarks/bench_engines.py --data-dir DIR [--out bench-engines] [--seeds 42,43,44]
        [--epochs 15] [--rows N] [--engines gplearn,operon] [--reference]

``DIR`` holds the paper's files under their canonical names (see .ci/run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from symact.cli import main
from symact.formula import parse_formula

SPECIALIST = "Hybrid (Specialist)"


def run_engine(engine: str, args: argparse.Namespace) -> tuple[dict, float]:
    """Run the paper suite with ``engine`` and return its results.json and wall seconds."""
    out = Path(args.out) / engine
    argv = ["benchmark", "--suite", "paper", "--data-dir", args.data_dir, "--out", str(out),
            "--engine", engine, "--seeds", args.seeds, "--epochs", str(args.epochs),
            "--activations", "relu", "--heavy-widths", "none", "--transfer", "none",
            "--device", "cpu"]  # fmt: skip
    if args.rows is not None:
        argv += ["--rows", str(args.rows)]
    if args.reference:
        argv += ["--reference", "lightgbm"]
    start = time.perf_counter()
    status = main(argv)
    if status != 0:
        raise SystemExit(f"symact benchmark --engine {engine} exited with {status}")
    return json.loads((out / "results.json").read_text()), time.perf_counter() - start


def mean_auc(results: dict, dataset: str, activation: str) -> float:
    aucs = [
        r["result"]["auc"]
        for r in results["runs"] + results.get("references", [])
        if r["dataset"] == dataset and r["activation"] == activation and r["result"]
    ]
    return statistics.fmean(aucs) if aucs else float("nan")


def rows_of(engine: str, results: dict) -> list[list[str]]:
    rows = []
    for dataset, found in results["discoveries"].items():
        special = mean_auc(results, dataset, SPECIALIST)
        relu = mean_auc(results, dataset, "ReLU")
        gbdt = mean_auc(results, dataset, "LightGBM")
        rows.append(
            [
                engine,
                dataset,
                f"{found['seconds']:.1f}",
                str(parse_formula(found["activation"]).size),
                f"{special:.4f}",
                f"{relu:.4f}",
                f"{special - relu:+.4f}",
                "" if gbdt != gbdt else f"{gbdt:.4f}",
            ]
        )
    return rows


def print_table(rows: list[list[str]]) -> None:
    head = ["engine", "dataset", "discovery s", "formula size", "Specialist AUC",
            "Light ReLU AUC", "difference", "LightGBM AUC"]  # fmt: skip
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows, strict=True)]
    for i, row in enumerate([head, *rows]):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def main_bench() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--out", default="bench-engines")
    p.add_argument("--seeds", default="42,43,44")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--engines", default="gplearn,operon")
    p.add_argument("--reference", action="store_true", help="add LightGBM's AUC as context")
    args = p.parse_args()
    rows, walls = [], []
    for engine in args.engines.split(","):
        results, wall = run_engine(engine, args)
        rows += rows_of(engine, results)
        walls.append(f"{engine} {wall:.0f} s")
    print_table(rows)
    print(
        f"wall time of each benchmark (training included, resumed runs skipped): {', '.join(walls)}"
    )


if __name__ == "__main__":
    main_bench()

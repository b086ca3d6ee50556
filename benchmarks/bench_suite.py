"""Whole-suite benchmark: ``symact benchmark --suite paper`` against the reference's loop.

Measured in one run, on the real copies in ../shared/data:
  (a) the reference-style loop (DataLoader over TensorDataset, one model at a time) on
      covertype's grid alone: one Light and one Heavy run timed before the suite and again
      after it, averaged, extrapolated to the grid's 15 Light + 3 Heavy runs;
  (b) the whole ``symact benchmark --suite paper`` (discovery on 3 datasets, 51 trainings,
      tables, figures) as a fresh process, with its peak memory, on a fresh machine: an
      empty kernel cache, so the fused kernels are compiled inside the timing;
  (b') the same into a new results folder, kernels now cached (a user's second suite);
  (c) the same command again, which finds every run stored.

Usage: python benchmarks/bench_suite.py [--data-dir DIR] [--epochs 15] [--skip-reference]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import load_covertype, protocol_split, reference_run
from symact.models import HEAVY, LIGHT
from symact.training import TrainConfig

REPO = Path(__file__).resolve().parents[1]
CANONICAL = {
    "HIGGS.csv.gz": "higgs_first10k.csv.gz",
    "covtype.data.gz": "covtype.csv.gz",
    "spambase.data": "spambase.data",
}


def canonical_dir(shared: Path, into: Path) -> Path:
    """The copies in ../shared/data linked under the file names symact looks for."""
    for name, copy in CANONICAL.items():
        (into / name).symlink_to(shared / copy)
    return into


def _tree_pss_mb(pid: int) -> float:
    """Proportional set size of a process and its descendants (shared pages split, not
    double-counted: the forked discovery child shares most of its memory with the parent)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) / 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run_suite(
    data_dir: Path, out: Path, epochs: int, kernel_dir: Path, sample_memory: bool = False
) -> tuple[float, float, float]:
    """Wall seconds, peak RSS of the largest process, and peak PSS of the whole process tree
    (main process plus the discovery child), in MB, of one ``symact benchmark --suite paper``.

    Reading /proc/<pid>/smaps_rollup walks the process's page tables under its memory lock,
    which can slow the process measured, so memory is sampled only when asked, in a
    run that is not timed."""
    cmd = [
        sys.executable,
        "-m",
        "symact",
        "benchmark",
        "--suite",
        "paper",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--epochs",
        str(epochs),
    ]
    env = dict(os.environ, SYMACT_KERNEL_DIR=str(kernel_dir))
    peak_tree = 0.0
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
        while proc.poll() is None:
            if sample_memory:
                peak_tree = max(peak_tree, _tree_pss_mb(proc.pid))
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            log.seek(0)
            sys.exit(f"symact benchmark failed:\n{log.read()}")
    peak_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, peak_rss, peak_tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("SYMACT_SHARED_DATA", REPO.parent / "shared" / "data")),
    )
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()

    rows = []
    timings: list[tuple[float, float]] = []  # reference (Light, Heavy) seconds

    def reference() -> None:
        if not args.skip_reference:
            config = TrainConfig(epochs=args.epochs)
            light_s, _ = reference_run(split, LIGHT.widths, nn.ReLU(), 42, config)
            heavy_s, _ = reference_run(split, HEAVY.widths, nn.ReLU(), 42, config)
            timings.append((light_s, heavy_s))

    if not args.skip_reference:
        X, y = load_covertype(args.data_dir, 100_000)
        split = protocol_split(X, y, 42)
    # The reference is timed before and after the suite runs and averaged: this machine's
    # speed drifts by tens of percent within minutes, and the ratio should not depend on
    # whether the drift happened to fall on one side.
    reference()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "data").mkdir()
        data_dir = canonical_dir(args.data_dir, Path(tmp) / "data")
        out, kernels = Path(tmp) / "results", Path(tmp) / "kernels"
        suite_s, _, _ = run_suite(data_dir, out, args.epochs, kernels)
        warm_s, _, _ = run_suite(data_dir, Path(tmp) / "results2", args.epochs, kernels)
        again_s, _, _ = run_suite(data_dir, out, args.epochs, kernels)
        reference()
        _, peak_mb, peak_tree = run_suite(
            data_dir, Path(tmp) / "results3", args.epochs, kernels, sample_memory=True
        )

    if timings:
        light_s = sum(t[0] for t in timings) / len(timings)
        heavy_s = sum(t[1] for t in timings) / len(timings)
        reference_s = 15 * light_s + 3 * heavy_s
        rows.append(
            (
                "(a) reference loop, covertype grid only (2 runs timed before and after, "
                "extrapolated)",
                reference_s,
                1.0,
            )
        )
    else:
        reference_s = float("nan")
    rows.append(("(b) symact benchmark --suite paper, whole suite", suite_s, reference_s / suite_s))
    rows.append(("(b') the same, new results folder, kernels cached", warm_s, reference_s / warm_s))
    rows.append(("(c) the same command again (all runs stored)", again_s, reference_s / again_s))

    print(f"epochs {args.epochs}; data {args.data_dir}")
    print(f"| {'what':<70} | {'wall s':>7} | {'vs (a)':>7} |")
    print(f"|{'-' * 72}|{'-' * 9}:|{'-' * 9}:|")
    for what, wall, ratio in rows:
        print(f"| {what:<70} | {wall:7.1f} | {ratio:6.1f}x |")
    print(
        f"peak memory of a whole suite (a fourth, untimed run): largest process "
        f"{peak_mb:.0f} MB RSS; main process and discovery child together {peak_tree:.0f} MB "
        "PSS (sampled every 50 ms)"
    )
    for when, (light, heavy) in zip(("before", "after"), timings, strict=False):
        print(f"reference per run, {when} the suite: Light {light:.1f} s, Heavy {heavy:.1f} s")


if __name__ == "__main__":
    main()

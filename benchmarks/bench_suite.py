"""Whole-suite benchmark: ``symact benchmark --suite paper`` against the reference's loop.

Measured in one run, on the real copies in ../shared/data:
  (a) the reference-style loop (DataLoader over TensorDataset, one model at a time) on
      covertype's grid alone: one Light and one Heavy run timed, extrapolated to the grid's
      15 Light + 3 Heavy runs;
  (b) the whole ``symact benchmark --suite paper`` (discovery on 3 datasets, 51 trainings,
      tables, figures) as a fresh process, with its peak memory;
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


def run_suite(data_dir: Path, out: Path, epochs: int) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one ``symact benchmark --suite paper``."""
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
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"symact benchmark failed:\n{r.stdout}\n{r.stderr}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, peak_mb


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
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "data").mkdir()
        data_dir = canonical_dir(args.data_dir, Path(tmp) / "data")
        out = Path(tmp) / "results"
        suite_s, peak_mb = run_suite(data_dir, out, args.epochs)
        again_s, _ = run_suite(data_dir, out, args.epochs)

    if not args.skip_reference:
        X, y = load_covertype(args.data_dir, 100_000)
        split = protocol_split(X, y, 42)
        config = TrainConfig(epochs=args.epochs)
        light_s, _ = reference_run(split, LIGHT.widths, nn.ReLU(), 42, config)
        heavy_s, _ = reference_run(split, HEAVY.widths, nn.ReLU(), 42, config)
        reference_s = 15 * light_s + 3 * heavy_s
        rows.append(
            ("(a) reference loop, covertype grid only (extrapolated from 2 runs)", reference_s, 1.0)
        )
    else:
        reference_s = float("nan")
    rows.append(("(b) symact benchmark --suite paper, whole suite", suite_s, reference_s / suite_s))
    rows.append(("(c) the same command again (all runs stored)", again_s, reference_s / again_s))

    print(f"epochs {args.epochs}; data {args.data_dir}")
    print(f"| {'what':<70} | {'wall s':>7} | {'vs (a)':>7} |")
    print(f"|{'-' * 72}|{'-' * 9}:|{'-' * 9}:|")
    for what, wall, ratio in rows:
        print(f"| {what:<70} | {wall:7.1f} | {ratio:6.1f}x |")
    print(f"peak memory of the suite process: {peak_mb:.0f} MB")
    if not args.skip_reference:
        print(f"reference per run: Light {light_s:.1f} s, Heavy {heavy_s:.1f} s")


if __name__ == "__main__":
    main()

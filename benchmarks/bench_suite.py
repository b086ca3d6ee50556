"""Whole-suite benchmark: ``symact benchmark --suite paper`` against the reference's loop.

Measured in one run, on the real copies in ../shared/data:
  (a) the reference-style loop (DataLoader over TensorDataset, one model at a time) on
      covertype's grid alone: each of its 6 configurations (Heavy ReLU; Light ReLU, GELU,
      SiLU, covertype's own formula and HIGGS's, as the suite discovered them) timed once
      with seed 42, x3 for the grid's 3 seeds; timed twice (after (b) and after (b'), so
      that the machine's drift falls on both sides) and averaged;
  (b) the whole ``symact benchmark --suite paper`` (discovery on 3 datasets, 51 trainings,
      tables, figures) as a fresh process, with its peak memory, on a fresh machine: an
      empty kernel cache, so the fused kernels are compiled inside the timing;
  (b') the same into a new results folder, kernels now cached (a user's second suite);
  (c) the same command again, which finds every run stored.

Usage: python benchmarks/bench_suite.py [--data-dir DIR] [--epochs 15] [--skip-reference]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import load_covertype, protocol_split, reference_run
from symact.formula import make_activation
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
    passes: list[dict[str, float]] = []  # reference seconds per configuration, per pass

    def reference(formulas: dict[str, str]) -> None:
        """One reference run of each configuration of covertype's grid (seed 42)."""
        if args.skip_reference:
            return
        config = TrainConfig(epochs=args.epochs)
        configs = [
            ("Heavy ReLU", HEAVY.widths, "relu"),
            ("Light ReLU", LIGHT.widths, "relu"),
            ("Light GELU", LIGHT.widths, "gelu"),
            ("Light SiLU", LIGHT.widths, "silu"),
            ("Light " + formulas["FOREST_COVER"], LIGHT.widths, formulas["FOREST_COVER"]),
            ("Light " + formulas["HIGGS"], LIGHT.widths, formulas["HIGGS"]),
        ]
        timed = {}
        for name, widths, act in configs:
            timed[name], _ = reference_run(split, widths, make_activation(act), 42, config)
        passes.append(timed)

    if not args.skip_reference:
        X, y = load_covertype(args.data_dir, 100_000)
        split = protocol_split(X, y, 42)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "data").mkdir()
        data_dir = canonical_dir(args.data_dir, Path(tmp) / "data")
        out, kernels = Path(tmp) / "results", Path(tmp) / "kernels"
        suite_s, _, _ = run_suite(data_dir, out, args.epochs, kernels)
        found = json.loads((out / "results.json").read_text())["discoveries"]
        formulas = {name: d["activation"] for name, d in found.items()}
        # The reference is timed twice, between the suite's timed runs, and averaged: this
        # machine's speed drifts by tens of percent within minutes, and the ratio should not
        # depend on which side of a drift each part fell.
        reference(formulas)
        warm_s, _, _ = run_suite(data_dir, Path(tmp) / "results2", args.epochs, kernels)
        reference(formulas)
        again_s, _, _ = run_suite(data_dir, out, args.epochs, kernels)
        _, peak_mb, peak_tree = run_suite(
            data_dir, Path(tmp) / "results3", args.epochs, kernels, sample_memory=True
        )

    if passes:
        per_config = {name: sum(p[name] for p in passes) / len(passes) for name in passes[0]}
        reference_s = 3 * sum(per_config.values())  # 3 seeds of each configuration
        rows.append(
            (
                "(a) reference loop, covertype grid only (6 configs x 3 seeds; each config "
                "timed on one seed, twice)",
                reference_s,
                1.0,
            )
        )
    else:
        per_config, reference_s = {}, float("nan")
    rows.append(("(b) symact benchmark --suite paper, whole suite", suite_s, reference_s / suite_s))
    rows.append(("(b') the same, new results folder, kernels cached", warm_s, reference_s / warm_s))
    rows.append(("(c) the same command again (all runs stored)", again_s, reference_s / again_s))

    print(f"epochs {args.epochs}; data {args.data_dir}")
    print(f"| {'what':<86} | {'wall s':>7} | {'vs (a)':>7} |")
    print(f"|{'-' * 88}|{'-' * 9}:|{'-' * 9}:|")
    for what, wall, ratio in rows:
        print(f"| {what:<86} | {wall:7.1f} | {ratio:6.1f}x |")
    print(
        f"peak memory of a whole suite (a fourth, untimed run): largest process "
        f"{peak_mb:.0f} MB RSS; main process and discovery child together {peak_tree:.0f} MB "
        "PSS (sampled every 50 ms)"
    )
    for name, seconds in per_config.items():
        each = ", ".join(f"{p[name]:.1f}" for p in passes)
        print(f"reference run, {name}: {seconds:.1f} s (passes: {each})")


if __name__ == "__main__":
    main()

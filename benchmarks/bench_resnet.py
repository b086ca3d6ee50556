"""Benchmark: the residual Light model against the Light MLP on the fused path, per sample-epoch.

Issue 19's target: a residual MLP of Light's widths (``ModelSpec(arch="resnet", hidden=(64,
32), blocks=2)``: projection 54 -> 64, two blocks 64 -> 32 -> 64, head) costs, per training
row and epoch, at most 1.2x the ratio of its multiply-adds to Light's (64-32). Both models
train on the same covertype subset (``bench_training.load_covertype``, an 80/20 protocol
split), as stacks of ``--models`` ReLU models with different seeds, on the fused kernels
(``SYMACT_KERNELS=fused``: an error if they cannot build). Rounds alternate MLP, ResNet,
ResNet, MLP, ... so that a drift of a shared machine falls on both alike; the best round of
each is kept, and every ratio printed is measured within this one run.

    python benchmarks/bench_resnet.py [--data-dir DIR] [--rows 20000] [--epochs 3] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch

from bench_training import load_covertype, protocol_split
from symact.models import LIGHT, ModelSpec
from symact.training import TrainConfig, TrainTask, train_stack
from symact.training.kernels import prebuild

RESNET_LIGHT = ModelSpec(hidden=(64, 32), arch="resnet", blocks=2)


def seconds_per_sample_epoch(spec: ModelSpec, split, models: int, config: TrainConfig) -> float:
    """Wall seconds of one stack's training over rows x epochs x models."""
    tasks = [TrainTask(*split, spec, seed=s) for s in range(1, models + 1)]
    t0 = time.perf_counter()
    outcomes = train_stack(tasks, config)
    wall = time.perf_counter() - t0
    assert all(o.backend == "fused" and not o.failed for o in outcomes)
    return wall / (len(split[0]) * config.epochs * models)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data"
    )
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--models", type=int, default=3, help="models per stack")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.environ["SYMACT_KERNELS"] = "fused"
    X, y = load_covertype(args.data_dir, args.rows)
    split = protocol_split(X, y, 42)
    d = split[0].shape[1]
    config = TrainConfig(epochs=args.epochs)
    prebuild()
    specs = {"mlp": LIGHT, "resnet": RESNET_LIGHT}
    best = {name: float("inf") for name in specs}
    order = []
    for r in range(args.rounds):
        order += ["mlp", "resnet"] if r % 2 == 0 else ["resnet", "mlp"]
    for name in order:
        t = seconds_per_sample_epoch(specs[name], split, args.models, config)
        best[name] = min(best[name], t)
    macs = {name: spec.macs_per_row(d) for name, spec in specs.items()}
    time_ratio = best["resnet"] / best["mlp"]
    mac_ratio = macs["resnet"] / macs["mlp"]
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, {len(split[0])} rows "
        f"x {d} features, {args.epochs} epochs, {args.models} models per stack, "
        f"best of {args.rounds}, load {os.getloadavg()[0]:.2f}"
    )
    for name, spec in specs.items():
        print(
            f"{name:>7}: {best[name] * 1e6:8.3f} us per sample-epoch, {macs[name]:6d} MACs/row, "
            f"{spec.param_count(d):6d} parameters"
        )
    print(f"time ratio resnet/mlp {time_ratio:.3f}; MAC ratio {mac_ratio:.3f}; ", end="")
    print(f"time ratio / MAC ratio {time_ratio / mac_ratio:.3f} (target <= 1.2)")


if __name__ == "__main__":
    main()

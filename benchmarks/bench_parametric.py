"""Benchmark: what the per-neuron parametric form costs on the fused path.

RealMLP's ``x + a * (f(x) - x)`` (``param:<activation>``, one ``a`` per unit) adds one
blend to each hidden layer's forward kernel, one kept buffer ``(f(y) - y) * keep`` and one
sum for a's gradient in its backward (``csrc/hidden.c``). Target (issue 21): training with
the form costs <= 1.2x its plain activation. Each pair is trained in the same run, the
rounds interleaved so load drift hits all alike, best of ``--repeats``: a stack of
``--models`` Light networks (64-32, BatchNorm, dropout 0.3) on ``--train-rows`` seeded
N(0, 1) rows of 32 features (the cost depends on shapes only), ``--epochs`` epochs. PReLU
(one slope per layer, a learnable formula) is timed against ReLU too.

Timed as the process's CPU time (all threads), on ``--threads`` torch threads (default 1):
on a machine shared with other work, wall-clock time measures the neighbours as much as
the step, CPU time the work the step does.

    python benchmarks/bench_parametric.py [--train-rows 8192] [--models 4] [--epochs 2]
        [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
import torch

from symact.models import LIGHT
from symact.training import TrainConfig, TrainTask, train_stack

#: (plain, its parametric form or another baseline), each pair timed in the same rounds
PAIRS: tuple[tuple[str, str, bool], ...] = (
    ("relu", "param:relu", False),
    ("gelu", "param:gelu", False),
    ("mul(x, cos(x))", "param:mul(x, cos(x))", False),
    ("add(mul(x, sig(mul(1.5, x))), 0.1)", "param:add(mul(x, sig(mul(1.5, x))), 0.1)", True),
    ("relu", "prelu", False),
)


def best_of(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best CPU seconds of each function, the rounds interleaved."""
    best = {name: float("inf") for name in fns}
    for fn in fns.values():  # warm-up: builds the kernels, first-touch of the buffers
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.process_time()
            fn()
            best[name] = min(best[name], time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-rows", type=int, default=8192)
    parser.add_argument("--models", type=int, default=4, help="models per stack")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    os.environ["SYMACT_KERNELS"] = "fused"
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.train_rows, 32)).astype(np.float32)
    labels = (X[:, 0] * X[:, 1] + np.sin(X[:, 2]) > 0).astype(np.int64)
    config = TrainConfig(epochs=args.epochs)

    def train(activation: str, learnable: bool) -> None:
        spec = LIGHT.with_activation(activation, learnable_constants=learnable)
        tasks = [
            TrainTask(X, labels, X[:1024], labels[:1024], spec, seed=s) for s in range(args.models)
        ]
        (first, *_) = train_stack(tasks, config)
        assert first.backend == "fused" and not first.failed, first

    runs: dict[str, Callable[[], None]] = {}
    for plain, other, learnable in PAIRS:
        for act in (plain, other):
            key = f"{act} (learnable)" if learnable else act
            runs[key] = lambda a=act, lc=learnable: train(a, lc)
    best = best_of(runs, args.repeats)
    samples = args.models * args.train_rows * args.epochs
    print(
        f"fused path, {torch.get_num_threads()} threads: {args.models} Light models x "
        f"{args.train_rows:,} rows x {args.epochs} epochs, best of {args.repeats}"
    )
    print(f"{'activation':<46} {'CPU us/sample-epoch':>20} {'form':>28} {'us':>7} {'ratio':>7}")
    worst = 0.0
    for plain, other, learnable in PAIRS:
        tag = " (learnable)" if learnable else ""
        a, b = best[plain + tag], best[other + tag]
        ratio = b / a
        if other.startswith("param:"):
            worst = max(worst, ratio)
        print(
            f"{plain + tag:<46} {a / samples * 1e6:>20.3f} {other[:28]:>28} "
            f"{b / samples * 1e6:>7.3f} {ratio:>6.2f}x"
        )
    print(f"target: param:<activation> / <activation> <= 1.20x -> worst {worst:.2f}x")


if __name__ == "__main__":
    main()

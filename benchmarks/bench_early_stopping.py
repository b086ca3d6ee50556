"""Benchmark: early stopping per model inside a stack against the same epochs without it.

Early stopping adds, after each epoch, one batched eval-mode forward of every model over
its validation rows, a copy of the improved models' weights, and at the end the restore of
the best ones. Measured here on its own: a stack of ``--models`` Light networks (four
activations, several seeds, grouped by activation as the runner orders a stack) on the
committed spambase slice, trained ``--epochs`` epochs (a) with early stopping that never
stops (``patience`` beyond the maximum: every validation pass, every copy, the restore)
and (b) with fixed epochs on the same carved training rows (the same optimizer steps).
Target: (a) / (b) <= 1.1x. Also printed: (c) fixed epochs on all the training rows (the
run early stopping replaces) and (a) / (c). Interleaved, best of ``--repeats``, on
``--threads`` torch threads (the runner trains a stack on one).

Then, for information, the real thing: ``TrainConfig.auto()`` (patience 16, at most 300
epochs) on the same stack, each model's epochs.

    python benchmarks/bench_early_stopping.py [--models 16] [--epochs 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from symact.models import LIGHT
from symact.training import TrainConfig, TrainTask, train_stack
from symact.training.trainer import carve_validation

DATA = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "data" / "spambase_4000.data.gz"
ACTIVATIONS = ("relu", "gelu", "tanh", "x*tanh(x)")


def spambase_tasks(models: int) -> list[TrainTask]:
    raw = np.loadtxt(DATA, delimiter=",")
    X, y = raw[:, :-1].astype(np.float32), raw[:, -1].astype(np.int64)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=42)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr).astype(np.float32), scaler.transform(X_te)
    X_te = X_te.astype(np.float32)
    seeds = -(-models // len(ACTIVATIONS))
    # grouped by activation, as the runner orders a stack (runner.plan_jobs)
    return [
        TrainTask(X_tr, y_tr, X_te, y_te, replace(LIGHT, activation=a), 42 + s)
        for a in ACTIVATIONS
        for s in range(seeds)
    ][:models]


def best_of(repeats: int, runs: dict[str, callable]) -> tuple[dict[str, float], dict[str, float]]:
    """Best wall seconds and best CPU seconds of this process (on a shared machine the CPU
    time is the steadier of the two: other processes' load lengthens only the wall time)."""
    best = dict.fromkeys(runs, float("inf"))
    cpu = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, run in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
            cpu[name] = min(cpu[name], time.process_time() - start_cpu)
    return best, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tasks = spambase_tasks(args.models)
    stopping = TrainConfig.auto(epochs=args.epochs, patience=10**9, batch_size=args.batch_size)
    fixed = TrainConfig(epochs=args.epochs, batch_size=args.batch_size)
    inner, _ = carve_validation(tasks, stopping.validation)  # the same optimizer steps
    times, cpu = best_of(
        args.repeats,
        {
            "fixed": lambda: train_stack(inner, fixed),
            "early stopping": lambda: train_stack(tasks, stopping),
            "all rows": lambda: train_stack(tasks, fixed),
        },
    )
    outs = train_stack(tasks, stopping)
    print(
        f"{args.models} Light models in one stack ({outs[0].backend} path), spambase "
        f"{inner[0].n_train} training + {tasks[0].n_train - inner[0].n_train} validation rows, "
        f"batch {args.batch_size}, {args.epochs} epochs, {args.threads} thread(s), best of "
        f"{args.repeats}"
    )
    print(f"  {'':<30}{'wall s':>8}{'CPU s':>8}")
    for name, label in (
        ("fixed", "fixed epochs"),
        ("early stopping", "early stopping, never stops"),
    ):
        print(f"  {label:<30}{times[name]:>8.3f}{cpu[name]:>8.3f}")
    print(
        f"  ratio: {times['early stopping'] / times['fixed']:.3f}x wall, "
        f"{cpu['early stopping'] / cpu['fixed']:.3f}x CPU (target <= 1.1x)"
    )
    print(
        f"  fixed epochs on all training rows (no part set aside): {times['all rows']:.3f} s; "
        f"early stopping costs {times['early stopping'] / times['all rows']:.3f}x of it"
    )
    start = time.perf_counter()
    auto = train_stack(tasks, TrainConfig.auto(batch_size=args.batch_size))
    seconds = time.perf_counter() - start
    epochs = sorted(o.epochs_run for o in auto)
    print(
        f"  TrainConfig.auto(): {seconds:.2f} s; epochs per model {epochs[0]}-{epochs[-1]} "
        f"(median {epochs[len(epochs) // 2]}), best epochs "
        f"{min(o.best_epoch for o in auto)}-{max(o.best_epoch for o in auto)}"
    )


if __name__ == "__main__":
    main()

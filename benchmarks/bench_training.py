"""Benchmark: the covertype training grid, reference-style loop vs symact one-by-one vs batched.

The grid is the paper's FOREST_COVER Phase 2: 100,000 rows of covtype (label Cover_Type == 2),
per seed 42/43/44 an 80/20 split + StandardScaler, and 6 configurations (Light with ReLU, GELU,
SiLU, x*cos(x), x*cos(x)+x; Heavy with ReLU), 15 epochs each: 18 trainings. All rows of the
printed table are measured in the same run:

(a) reference-style: the network as a plain module (``ModelSpec.to_module``, logits out)
    + ``DataLoader(TensorDataset)`` (batch 1024, shuffle) + Adam + ``BCEWithLogitsLoss``,
    one model at a time. Only one Light and one Heavy run are timed; the
    grid's time is extrapolated as 15 x Light + 3 x Heavy (marked "extrapolated").
(b) symact one model at a time: every task as its own stack (K = 1).
(c) symact batched: one stack per network structure (``runner.plan_jobs`` with no work cap;
    mixed activations per stack:
    the kernels interpret each model's formula), and (c') the same with one activation per
    stack, to show that mixing costs nothing;
(d) as (c) on the torch path (``SYMACT_KERNELS=torch``: element-wise work as torch ops and
    formula derivatives by autograd) instead of the fused C kernels, to show what they buy.
In (b)-(d) stacks run one after another, each on all cores (torch's threads; the kernels
split a stack's models over them); (e) trains the grid as the suite's runner does: stacks
sized by one model's work (``runner.max_stack_size`` of ``ModelSpec.cost``: Heavy alone,
Light by up to three, cut by seed), costliest first, side by side with one torch thread each
(set once, as ``LocalExecutor`` does).

The floor is a 4096^3 float32 matmul measured in the same run; "GFLOP/s" counts the matmul
arithmetic of training (forward, weight gradients, input gradients past the first layer).

    python benchmarks/bench_training.py [--data-dir DIR] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from symact.experiments.runner import plan_jobs
from symact.experiments.specs import DataSpec, RunSpec
from symact.models import HEAVY, LIGHT, ModelSpec
from symact.training import TrainConfig, TrainTask, train_stack
from symact.training.kernels import prebuild as prebuild_kernels

SEEDS = (42, 43, 44)
ROWS = 100_000


CONFIGS: list[tuple[str, ModelSpec]] = [
    ("Light ReLU", LIGHT),
    ("Light GELU", LIGHT.with_activation("gelu")),
    ("Light SiLU", LIGHT.with_activation("silu")),
    ("Light x*cos(x)", LIGHT.with_activation("mul(x, cos(x))")),
    ("Light x*cos(x)+x", LIGHT.with_activation("add(mul(x, cos(x)), x)")),
    ("Heavy ReLU", HEAVY),
]


def load_covertype(data_dir: Path, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random ``rows``-row subset of the covtype copy, label Cover_Type == 2."""
    for name in ("covtype.data.gz", "covtype.csv.gz"):
        if (data_dir / name).exists():
            raw = pd.read_csv(data_dir / name, header=None).to_numpy()
            break
    else:
        sys.exit(f"no covtype.data.gz or covtype.csv.gz in {data_dir}; pass --data-dir")
    pick = np.random.default_rng(42).choice(len(raw), size=min(rows, len(raw)), replace=False)
    raw = raw[np.sort(pick)]
    return raw[:, :-1].astype(np.float32), (raw[:, -1] == 2).astype(np.int64)


def protocol_split(X: np.ndarray, y: np.ndarray, seed: int):
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=seed)
    scaler = StandardScaler().fit(X_tr)
    return (
        scaler.transform(X_tr).astype(np.float32),
        y_tr,
        scaler.transform(X_te).astype(np.float32),
        y_te,
    )


def train_flops(n_features: int, widths: tuple[int, ...], rows: int, epochs: int) -> float:
    dims = (n_features, *widths, 1)
    macs = sum(a * b for a, b in itertools.pairwise(dims))
    per_row = 2 * macs * 3 - 2 * dims[0] * dims[1]  # forward + dW + dX (no dX for the input)
    return float(per_row) * rows * epochs


def matmul_floor() -> float:
    a, b = torch.randn(4096, 4096), torch.randn(4096, 4096)
    a @ b
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * 4096**3 / best / 1e9


def reference_run(split, spec: ModelSpec, seed: int, config: TrainConfig) -> tuple[float, float]:
    """The reference's loop: per-sample DataLoader over a TensorDataset, one model
    (``spec.to_module``, which returns logits: binary cross-entropy on them)."""
    X_tr, y_tr, _, _ = split
    torch.manual_seed(seed)
    model = spec.to_module(X_tr.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss_fn = nn.BCEWithLogitsLoss()
    data = TensorDataset(torch.as_tensor(X_tr), torch.as_tensor(y_tr, dtype=torch.float32))
    loader = DataLoader(data, batch_size=config.batch_size, shuffle=True)

    def train() -> None:
        model.train()
        for _ in range(config.epochs):
            for xb, yb in loader:
                opt.zero_grad()
                loss = loss_fn(model(xb)[:, 0], yb)
                loss.backward()
                opt.step()

    wall, busy, _ = timed(train)
    return wall, busy


def planned(
    tasks: list[TrainTask], config: TrainConfig, stack_work: float | None = None, min_jobs: int = 1
):
    """The stacks ``runner.plan_jobs`` makes of the grid (task indices, costliest first):
    the runner's own rule, with ``stack_work`` None its default cap of one stack's work."""
    specs = [RunSpec(DataSpec("covertype", rows=ROWS), t.model, t.seed, config) for t in tasks]
    index = {id(spec): i for i, spec in enumerate(specs)}
    shape = (tasks[0].n_features, tasks[0].n_train)
    work = {} if stack_work is None else {"stack_work": stack_work}
    jobs = plan_jobs(specs, lambda spec: shape, "cpu", min_jobs=min_jobs, **work)
    return [[index[id(spec)] for spec in job.specs] for job in jobs]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn) -> tuple[float, float, object]:
    """Wall seconds, cores busy (CPU seconds / wall seconds) and the result of ``fn()``."""
    t0, c0 = time.perf_counter(), cpu_seconds()
    out = fn()
    wall = time.perf_counter() - t0
    return wall, (cpu_seconds() - c0) / wall, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data"
    )
    parser.add_argument("--quick", action="store_true", help="3 epochs, skip the K=1 row")
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    epochs = args.epochs or (3 if args.quick else 15)
    config = TrainConfig(epochs=epochs)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, epochs {epochs}")
    load_start = f"{os.getloadavg()[0]:.2f}"

    X, y = load_covertype(args.data_dir, ROWS)
    splits = {seed: protocol_split(X, y, seed) for seed in SEEDS}
    tasks = [
        TrainTask(*splits[seed], spec, seed, label=f"{name} seed {seed}")
        for name, spec in CONFIGS
        for seed in SEEDS
    ]
    n_train, d = splits[42][0].shape
    flops = sum(train_flops(d, t.model.hidden, n_train, epochs) for t in tasks)
    floor = matmul_floor()

    rows = []
    light, busy_l = reference_run(splits[42], LIGHT, 42, config)
    heavy, busy_h = reference_run(splits[42], HEAVY, 42, config)
    ref_seconds = 15 * light + 3 * heavy
    ref_busy = (15 * light * busy_l + 3 * heavy * busy_h) / ref_seconds
    rows.append(
        ("(a) reference loop, one at a time (2 timed, extrapolated)", ref_seconds, ref_busy)
    )

    prebuild_kernels()  # compile the one kernel library outside the timings (~2 s)
    if not args.quick:
        seconds, busy, _ = timed(lambda: [train_stack([t], config) for t in tasks])
        rows.append(("(b) symact, one model at a time (K=1)", seconds, busy))

    mixed = planned(tasks, config, math.inf)
    by_activation = []  # those stacks, each cut into runs of one activation
    for s in mixed:
        for act in dict.fromkeys(tasks[i].model.activation for i in s):
            by_activation.append([i for i in s if tasks[i].model.activation == act])
    plans = {
        "(c) symact batched, mixed activations": mixed,
        "(c') symact batched, one activation per stack": by_activation,
    }
    plans["(d) symact batched, mixed, torch path (SYMACT_KERNELS=torch)"] = mixed
    outcomes = None
    for name, plan in plans.items():
        sizes = "+".join(str(len(s)) for s in plan)
        os.environ["SYMACT_KERNELS"] = "torch" if "torch path" in name else "auto"
        seconds, busy, results = timed(
            lambda p=plan: [train_stack([tasks[i] for i in s], config) for s in p]
        )
        backend = results[0][0].backend
        rows.append((f"{name} [stacks {sizes}, {backend}]", seconds, busy))
        outcomes = outcomes or {
            i: o for s, r in zip(plan, results, strict=True) for i, o in zip(s, r, strict=True)
        }

    # (e) as the suite's runner trains a grid on a CPU (runner.plan_jobs): stacks sized by
    # one model's work (max_stack_size of ModelSpec.cost: Heavy one by one, Light by up to
    # three), cut by seed when cut, the costliest first, side by side with one torch thread
    # each, set once for the process (as LocalExecutor does)
    os.environ["SYMACT_KERNELS"] = "auto"

    workers = os.cpu_count() or 1
    plan = planned(tasks, config, min_jobs=workers)  # as LocalExecutor's runner asks

    def side_by_side():
        old = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(workers) as pool:
                jobs = [pool.submit(train_stack, [tasks[i] for i in s], config) for s in plan]
                return [j.result() for j in jobs]
        finally:
            torch.set_num_threads(old)

    seconds, busy, _ = timed(side_by_side)
    sizes = "+".join(str(len(s)) for s in plan)
    rows.append(
        (f"(e) as the suite runs it: {workers} stacks side by side [{sizes}]", seconds, busy)
    )

    base = rows[0][1]
    print(f"\ncovertype grid: {len(tasks)} runs, {n_train} train rows, {flops / 1e12:.2f} TFLOP")
    print(f"floor: 4096^3 matmul {floor:.0f} GFLOP/s -> {flops / floor / 1e9:.1f} s at the floor\n")
    header = ("method", "wall s", "s/run", "speedup", "GFLOP/s", "% floor", "cores")
    print(f"| {header[0]:<62} | " + " | ".join(f"{h:>7}" for h in header[1:]) + " |")
    print("|" + "-" * 64 + "|" + "|".join("-" * 9 for _ in header[1:]) + "|")
    for name, seconds, busy in rows:
        gflops = flops / seconds / 1e9
        cells = (
            f"{seconds:.1f}",
            f"{seconds / len(tasks):.2f}",
            f"{base / seconds:.1f}x",
            f"{gflops:.1f}",
            f"{100 * gflops / floor:.1f}%",
            f"{busy:.2f}",
        )
        print(f"| {name:<62} | " + " | ".join(f"{c:>7}" for c in cells) + " |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"load average at start / end: {load_start} / {os.getloadavg()[0]:.2f} (other processes)")
    print(f"\npeak memory (maxrss, whole process): {peak:.0f} MB")
    print(f"reference timings: Light ReLU {light:.1f} s, Heavy ReLU {heavy:.1f} s per run")
    print("cores = CPU seconds / wall seconds of this process (2.00 = both cores busy)")
    print("\nbatched results, mean over seeds:")
    for c, (name, _) in enumerate(CONFIGS):
        got = [outcomes[c * len(SEEDS) + s] for s in range(len(SEEDS))]
        acc = np.mean([o.accuracy for o in got])
        auc = np.mean([o.auc for o in got])
        print(f"  {name:<18} acc {acc:.3f}  auc {auc:.3f}  params {got[0].params}")


if __name__ == "__main__":
    main()

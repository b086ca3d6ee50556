"""Benchmark: a stack of 48 distinct random formulas against a stack of 48 ReLU models.

Issue #11's target: on the CPU, models with formula activations cost at most 2x ReLU models
end to end, compiler included. The fused kernels interpret each model's formula as a
register program (``symact.formula.program``), so one library, built once, serves any
number of formulas; this measures what that costs.

Setup: covertype, a seeded 25,000-row subset of the copy (``bench_training.load_covertype``,
label Cover_Type == 2), the protocol's 80/20 split with seed 42 and StandardScaler: 20,000
training rows, 54 features; Light networks (``ModelSpec(hidden=(64, 32))``, BatchNorm,
dropout 0.3), 3 epochs, batch 1024, Adam. Two stacks of the same size:

* 48 ReLU models, seeds 0..47;
* 48 distinct random formulas of ``x``, seeds 0..47: trees of 2 to 15 nodes over the whole
  operator table (``symact.formula.OPERATORS``), leaves ``x`` or a constant, drawn fresh in
  every run from a time-based seed (printed; ``--formula-seed`` repeats a draw), so no cache
  of any kind has seen them. Rejected: degenerate ones (``Formula.is_degenerate``: constant
  or linear on [-5, 5]), ones that are not finite in float32 on [-8, 8] or that fail to
  build, exactly ``relu(x)`` (the kernels' ReLU fast path), and duplicates.

Each stack is timed end to end as a user pays it: ModelSpecs from formula text, tasks,
``train_stack`` (parameters, programs, the kernel library, training, scoring); on one core
(``threads=1``) and on both (``threads=2``), each with

* a cold kernel cache: a fresh, empty ``SYMACT_KERNEL_DIR``, so the library is compiled
  inside the timing (both stacks need it: ReLU runs in the same library);
* a warm one: the library already built (a user's every later run).

Each repeat times every combination (thread counts interleaved), alternating which stack
goes first; the table gives medians, the ratio is formulas over ReLU of the medians, and
every repeat's ratio (of two neighbouring timings) is printed beside it.

    python benchmarks/bench_formulas.py [--data-dir DIR] [--repeats 3] [--formula-seed N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import load_covertype, protocol_split
from symact.formula import OPERATORS, Formula, FormulaError
from symact.formula.parser import parse_formula
from symact.formula.program import compile_program
from symact.models import ModelSpec
from symact.training import TrainConfig, TrainTask, kernels, train_stack

ROWS = 25_000  # the 80/20 split leaves 20,000 training rows
N_MODELS = 48
MAX_SIZE = 15
HIDDEN = (64, 32)  # Light
OLD_DESIGN = (
    "old design (issue #11, one C library per activation; not re-measured): "
    "16 ReLU models 1.0 s fused; 16 distinct formulas 11.0 s with a cold kernel cache "
    "(11.0x), 3.3 s warm (3.3x)"
)

UNARY = [name for name, op in OPERATORS.items() if op.arity == 1]
BINARY = [name for name, op in OPERATORS.items() if op.arity == 2]


def random_tree(rng: np.random.Generator, size: int) -> Formula:
    """A random formula of exactly ``size`` nodes: operators drawn uniformly from the table
    (unary or binary as the node budget allows), leaves ``x`` (70%) or a constant."""
    if size == 1:
        if rng.random() < 0.7:
            return Formula.var("x")
        return Formula.const(round(float(rng.uniform(-3.0, 3.0)), 3) or 1.0)
    if size == 2 or (size >= 3 and rng.random() < len(UNARY) / len(OPERATORS)):
        return Formula.call(str(rng.choice(UNARY)), random_tree(rng, size - 1))
    left = int(rng.integers(1, size - 1))  # 1 .. size-2 nodes on the left
    return Formula.call(
        str(rng.choice(BINARY)), random_tree(rng, left), random_tree(rng, size - 1 - left)
    )


def draw_formulas(seed: int, n: int) -> tuple[list[Formula], dict[str, int]]:
    """``n`` distinct usable formulas of 2..MAX_SIZE nodes, and how many were rejected why."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(-8.0, 8.0, 2001, dtype=np.float32)
    found: dict[str, Formula] = {}
    rejected = dict.fromkeys(("failed to build", "degenerate", "not finite", "relu", "dup"), 0)
    while len(found) < n:
        try:
            f = random_tree(rng, int(rng.integers(2, MAX_SIZE + 1)))
            if "x" not in f.variables or f.is_degenerate():
                rejected["degenerate"] += 1
                continue
            with np.errstate(all="ignore"):
                values = f.to_numpy(features=False)(grid)
            if not np.all(np.isfinite(values)):
                rejected["not finite"] += 1
                continue
            if compile_program(f).is_relu:
                rejected["relu"] += 1
                continue
            ModelSpec(hidden=HIDDEN, activation=str(f))  # the text must read back
        except (FormulaError, ValueError, OverflowError):
            rejected["failed to build"] += 1
            continue
        if str(f) in found:
            rejected["dup"] += 1
            continue
        found[str(f)] = f
    return list(found.values()), rejected


def eval_ns(lib, formula: Formula, y) -> float:
    """Nanoseconds per element of the kernels' interpreter on one core: value and derivative
    (forward mode, as a hidden layer's forward pass runs a fixed-constant formula), best of 5
    calls of ``symact_eval`` over ``y``."""
    from symact.training.fused import evaluate_program

    program = compile_program(formula)
    evaluate_program(lib, program, y)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        evaluate_program(lib, program, y)
        best = min(best, time.perf_counter() - t0)
    return best / y.numel() * 1e9


def interpreter_costs(formulas: list[Formula]) -> list[str]:
    """Per operator and for the draw's costliest formulas: where a formula stack's extra
    time goes (a libm call gcc could not vectorize shows as ~10x its neighbours)."""
    lib = kernels.load()
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        y = 4 * torch.randn(1 << 18, generator=torch.Generator().manual_seed(0))
        ops = {
            name: eval_ns(lib, parse_formula(f"{name}(x)" if op.arity == 1 else f"{name}(x, x)"), y)
            for name, op in OPERATORS.items()
        }
        each = sorted(((eval_ns(lib, f, y), f) for f in formulas), key=lambda t: -t[0])
    finally:
        torch.set_num_threads(old)
    lines = [
        "interpreter, ns per element (value + derivative, symact_eval on 2^18 elements of "
        "4*N(0,1), one core, best of 5; relu(x) here runs as a program, not the fast path):"
    ]
    names = list(ops)
    for i in range(0, len(names), 8):
        lines.append("  " + "  ".join(f"{n} {ops[n]:.1f}" for n in names[i : i + 8]))
    mean = statistics.mean(ns for ns, _ in each)
    lines.append(f"  the {len(each)} formulas: mean {mean:.1f} ns; costliest:")
    lines += [f"    {ns:6.1f} ns  {f}" for ns, f in each[:5]]
    return lines


def timed_stack(split, activations: list[str], config: TrainConfig, threads: int, kernel_dir):
    """Wall seconds of one stack end to end (specs from text, tasks, ``train_stack``), the
    number of its models that failed (non-finite loss), and the backend that trained it."""
    os.environ["SYMACT_KERNEL_DIR"] = str(kernel_dir)
    X_tr, y_tr, X_te, y_te = split
    t0 = time.perf_counter()
    tasks = [
        TrainTask(X_tr, y_tr, X_te, y_te, ModelSpec(hidden=HIDDEN, activation=act), seed)
        for seed, act in enumerate(activations)
    ]
    outcomes = train_stack(tasks, config, "cpu", threads=threads)
    wall = time.perf_counter() - t0
    return wall, sum(o.failed for o in outcomes), outcomes[0].backend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--models", type=int, default=N_MODELS, help="models per stack")
    parser.add_argument("--threads", default="1,2", help="thread counts to measure (1,2)")
    parser.add_argument("--formula-seed", type=int, default=None, help="default: time-based")
    args = parser.parse_args()
    if kernels.mode() == "torch":
        sys.exit("SYMACT_KERNELS=torch: this benchmark measures the fused kernels")
    seed = args.formula_seed if args.formula_seed is not None else time.time_ns() % 2**32
    config = TrainConfig(epochs=args.epochs)
    load_start = os.getloadavg()

    X, y = load_covertype(args.data_dir, ROWS)
    split = protocol_split(X, y, 42)
    t0 = time.perf_counter()
    formulas, rejected = draw_formulas(seed, args.models)
    draw_s = time.perf_counter() - t0
    texts = [str(f) for f in formulas]
    relu = ["relu"] * args.models
    sizes = [f.size for f in formulas]
    ops = {n.op for f in formulas for n in f.nodes()} - {"var", "const"}

    with tempfile.TemporaryDirectory(prefix="symact-bench-kernels-") as tmp:
        root = Path(tmp)
        fresh = iter(root / f"cold{i}" for i in range(10_000))
        warm_dir = root / "warm"
        os.environ["SYMACT_KERNEL_DIR"] = str(warm_dir)
        t0 = time.perf_counter()
        kernels.load()  # also the warm cache below
        build_s = time.perf_counter() - t0
        # untimed warm-up: first-call costs of the process (lazy imports, allocator)
        timed_stack(split, ["relu", texts[0]], TrainConfig(epochs=1), 1, warm_dir)

        times: dict[tuple[int, str, str], list[float]] = {}
        failed: dict[str, int] = {}
        backends = set()
        for r in range(args.repeats):  # thread counts interleaved: the same machine for all
            order = [("ReLU", relu), ("formulas", texts)]
            if r % 2:
                order.reverse()
            for threads in [int(t) for t in args.threads.split(",")]:
                for cache in ("cold", "warm"):
                    for name, acts in order:
                        kdir = next(fresh) if cache == "cold" else warm_dir
                        wall, n_failed, backend = timed_stack(split, acts, config, threads, kdir)
                        times.setdefault((threads, cache, name), []).append(wall)
                        failed[name] = max(failed.get(name, 0), n_failed)
                        backends.add(backend)
        load_end = os.getloadavg()
        os.environ["SYMACT_KERNEL_DIR"] = str(warm_dir)
        costs = interpreter_costs(formulas)  # after the timings: never beside them

    n_train, d = split[0].shape
    print(
        f"covertype: {n_train} training rows (seeded {ROWS}-row subset, 80/20 split seed 42), "
        f"{d} features; Light {HIDDEN}, {args.epochs} epochs, batch {config.batch_size}; "
        f"stacks of {args.models}; backend {', '.join(sorted(backends))}"
    )
    print(
        f"formula seed {seed} (time-based unless --formula-seed); {len(texts)} distinct formulas, "
        f"{min(sizes)}-{max(sizes)} nodes (mean {statistics.mean(sizes):.1f}), "
        f"{len(ops)} of {len(OPERATORS)} operators used; drawn in {draw_s:.2f} s; rejected: "
        + ", ".join(f"{k} {v}" for k, v in rejected.items())
    )
    print(
        f"models that failed in training (non-finite loss): ReLU {failed['ReLU']}, "
        f"formulas {failed['formulas']}"
    )
    print(f"kernel library build alone (cold cache): {build_s:.2f} s\n")
    print(
        "| threads | kernel cache | ReLU s | formulas s | formulas / ReLU | per-repeat ratios "
        "| ReLU ms/model | formulas ms/model |"
    )
    print("|---:|---|---:|---:|---:|---|---:|---:|")
    verdicts = []
    for threads in [int(t) for t in args.threads.split(",")]:
        for cache in ("cold", "warm"):
            a, b = times[(threads, cache, "ReLU")], times[(threads, cache, "formulas")]
            ra, rb = statistics.median(a), statistics.median(b)
            each = ", ".join(f"{y / x:.2f}" for x, y in zip(a, b, strict=True))
            label = "cold (fresh, build timed)" if cache == "cold" else "warm"
            print(
                f"| {threads} | {label} | {ra:.2f} | {rb:.2f} | {rb / ra:.2f}x | {each} "
                f"| {1e3 * ra / args.models:.1f} | {1e3 * rb / args.models:.1f} |"
            )
            verdicts.append((threads, cache, rb / ra))
        strict = statistics.median(times[(threads, "cold", "formulas")]) / statistics.median(
            times[(threads, "warm", "ReLU")]
        )
        verdicts.append((threads, "strict", strict))
    print()
    for threads, what, ratio in verdicts:
        if what == "strict":
            print(
                f"threads {threads}, formulas cold / ReLU warm (the build charged to the formulas "
                f"alone; for information): {ratio:.2f}x"
            )
            continue
        ok = "meets" if ratio <= 2.0 else "MISSES"
        print(f"threads {threads}, {what} cache: {ratio:.2f}x -> {ok} the target (<= 2x ReLU)")
    print(OLD_DESIGN)
    print(
        f"load average (1 min) at start / end: {load_start[0]:.2f} / {load_end[0]:.2f}; "
        "medians of the repeats, each timing a separate train_stack call"
    )
    print("\n" + "\n".join(costs))
    print("\nthe formulas (canonical prefix text):")
    for t in texts:
        print(f"  {t}")


if __name__ == "__main__":
    main()

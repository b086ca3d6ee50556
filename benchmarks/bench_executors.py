"""Local threads against Ray tasks: the same suites, and what a cluster's driver would pay.

Measured in one run, on the real copies in ../shared/data (linked under their canonical names,
as .ci/run does) and this machine's cores:
  (a) ``symact benchmark --suite builtin`` and ``--suite paper`` as fresh processes, with the
      local executor and with ``--executor ray`` (a local Ray instance started and shut down
      inside the timed command), alternating, ``--repeats`` times each, after one untimed
      local run per suite that compiles the fused kernels (cached for every timed run); each
      Ray run's tables are checked equal to the local run's;
  (b) what bounds a grid on N nodes: one run's commit to the results store (the driver's
      only serial work per run), the driver's round trip per Ray task, ``ray.put`` of the
      largest dataset (covertype, the paper's 100,000 rows), its first read on a second node
      (``ray.cluster_utils.Cluster``: two nodes on this machine, so the transfer runs over
      loopback; a real network adds size / bandwidth) and the split a task makes from it.

Usage: python benchmarks/bench_executors.py [--data-dir DIR] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CANONICAL = {
    "HIGGS.csv.gz": "higgs_first10k.csv.gz",
    "covtype.data.gz": "covtype.csv.gz",
    "spambase.data": "spambase.data",
}
SUITES = ("builtin", "paper")
EXECUTORS = ("local", "ray")


def canonical_dir(shared: Path, into: Path) -> Path:
    """The copies in ../shared/data linked under the file names symact looks for."""
    for name, copy in CANONICAL.items():
        (into / name).symlink_to(shared / copy)
    return into


def run_suite(suite: str, executor: str, data_dir: Path, out: Path, env: dict) -> float:
    """Wall seconds of one ``symact benchmark`` as a fresh process (Ray's start and
    shutdown included)."""
    cmd = [sys.executable, "-m", "symact", "benchmark", "--suite", suite, "--device", "cpu"]
    cmd += ["--data-dir", str(data_dir), "--out", str(out), "--executor", executor]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}")
    return wall


def same_tables(a: Path, b: Path) -> bool:
    return all(
        (a / name).read_text() == (b / name).read_text()
        for name in ("final_efficiency_results.csv", "summary.csv")
    )


# --------------------------------------------------------------------------- (b) costs


def suite_work(store: Path) -> dict:
    """What a suite's store says about its work: stacks, their seconds, the discoveries."""
    import sqlite3

    with sqlite3.connect(store) as conn:
        runs = [
            (json.loads(r), json.loads(s)) for s, r in conn.execute("SELECT spec, result FROM runs")
        ]
        found = [json.loads(r) for (r,) in conn.execute("SELECT result FROM discoveries")]
    stacks = {(r["stack_seconds"], r["stack_size"], r["finished_at"]) for r, _ in runs}
    return {
        "a run": runs[0],
        "runs": len(runs),
        "stacks": len(stacks),
        "stack seconds": sum(s for s, _, _ in stacks),
        "longest stack": max(s for s, _, _ in stacks),
        "discovery seconds": sum(d["seconds"] for d in found),
    }


def commit_ms(record: dict, spec: dict, n: int = 300) -> float:
    """One run's commit (``put_run``: one SQLite transaction), median of ``n``."""
    from symact.experiments import ResultsStore

    times = []
    with tempfile.TemporaryDirectory() as tmp, ResultsStore(Path(tmp) / "s.sqlite") as store:
        for i in range(n):
            t0 = time.perf_counter()
            store.put_run(f"{i:032x}", spec, record)
            times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def largest_dataset(data_dir: Path):
    from symact.experiments import DataCache
    from symact.experiments.suites import make_suite

    suite = make_suite("paper")
    data = DataCache(str(data_dir))
    spec = max(suite.datasets, key=lambda d: data.dataset(d).X.nbytes)
    return spec, data


def driver_cpu_per_task_ms(task, n: int = 1000) -> float:
    """The driver process's CPU (all its threads) per task: submitted with the runner's
    back-pressure (two in flight per CPU), waited for with ``ray.wait``, fetched."""
    import ray

    slots = 2 * int(ray.cluster_resources()["CPU"])
    c0 = time.process_time()
    pending, left = [], n
    while left or pending:
        while left and len(pending) < slots:
            pending.append(task.remote(None))
            left -= 1
        done, pending = ray.wait(pending, num_returns=1)
        ray.get(done)
    return 1e3 * (time.process_time() - c0) / n


def ray_costs(data_dir: Path) -> dict[str, float]:
    """Driver round trip of a task, put and cross-node read of the largest dataset, split."""
    import ray
    from ray.cluster_utils import Cluster
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from symact.experiments.datacache import make_split
    from symact.experiments.specs import SplitSpec

    spec, data = largest_dataset(data_dir)
    ds = data.dataset(spec)
    out = {"dataset MB": (ds.X.nbytes + ds.y.nbytes) / 2**20, "rows": ds.n_rows}
    make_split(ds, SplitSpec(41))  # the first one imports scikit-learn's parts
    t0 = time.perf_counter()
    for seed in (42, 43, 44):
        make_split(ds, SplitSpec(seed))
    out["split ms"] = 1e3 * (time.perf_counter() - t0) / 3

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    second = cluster.add_node(num_cpus=1, object_store_memory=512 * 2**20)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="WARNING")
    try:

        @ray.remote(num_cpus=1)
        def rows(d) -> int:
            return -1 if d is None else int(d.X.shape[0])

        on = {
            name: NodeAffinitySchedulingStrategy(node.node_id, soft=False)
            for name, node in (("head", cluster.head_node), ("second", second))
        }
        # a worker on each node imports symact.data (unpickling a Dataset needs it) first
        tiny = ray.put(replace(ds, X=ds.X[:10], y=ds.y[:10]))
        ray.get([rows.options(scheduling_strategy=s).remote(tiny) for s in on.values()])
        t0 = time.perf_counter()
        for _ in range(50):
            ray.get(rows.options(scheduling_strategy=on["head"]).remote(None))
        out["task round trip ms"] = 1e3 * (time.perf_counter() - t0) / 50
        out["driver cpu per task ms"] = driver_cpu_per_task_ms(rows)
        t0 = time.perf_counter()
        ref = ray.put(ds)
        out["put ms"] = 1e3 * (time.perf_counter() - t0)
        for name in ("second", "head"):  # first read there: a pull, then zero-copy
            t0 = time.perf_counter()
            assert ray.get(rows.options(scheduling_strategy=on[name]).remote(ref)) == ds.n_rows
            out[f"first read on the {name} node ms"] = 1e3 * (time.perf_counter() - t0)
        t0 = time.perf_counter()
        ray.get(rows.options(scheduling_strategy=on["second"]).remote(ref))
        out["second read on the second node ms"] = 1e3 * (time.perf_counter() - t0)
    finally:
        ray.shutdown()
        cluster.shutdown()
    return out


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("SYMACT_SHARED_DATA", REPO.parent / "shared" / "data")),
    )
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "data").mkdir()
        data_dir = canonical_dir(args.data_dir.resolve(), tmp / "data")
        env = dict(os.environ, SYMACT_KERNEL_DIR=str(tmp / "kernels"))
        for suite in SUITES:  # compile every kernel the suites need, untimed
            run_suite(suite, "local", data_dir, tmp / f"warm-{suite}", env)

        walls: dict[tuple[str, str], list[float]] = {}
        for i in range(args.repeats):
            for suite in SUITES:
                for executor in EXECUTORS if i % 2 == 0 else EXECUTORS[::-1]:
                    out = tmp / f"{suite}-{executor}-{i}"
                    wall = run_suite(suite, executor, data_dir, out, env)
                    walls.setdefault((suite, executor), []).append(wall)
                    print(f"  {suite:<8} {executor:<6} run {i + 1}: {wall:6.1f} s", flush=True)
                local, on_ray = tmp / f"{suite}-local-{i}", tmp / f"{suite}-ray-{i}"
                if not same_tables(local, on_ray):
                    sys.exit(f"{suite}: Ray's tables differ from the local executor's")

        fastest = min(range(args.repeats), key=lambda i: walls[("paper", "local")][i])
        work = suite_work(tmp / f"paper-local-{fastest}" / "symact.sqlite")
        commit = commit_ms(*work.pop("a run"))
        costs = ray_costs(data_dir)

    cores = os.cpu_count()
    print(f"\n{cores} cores; wall seconds of the whole command, best and median of {args.repeats}")
    print("| suite | local best | local median | ray best | ray median | ray / local (best) |")
    print("|---|---:|---:|---:|---:|---:|")
    for suite in SUITES:
        loc, ray_ = walls[(suite, "local")], walls[(suite, "ray")]
        print(
            f"| {suite} | {min(loc):.1f} | {statistics.median(loc):.1f} | {min(ray_):.1f} | "
            f"{statistics.median(ray_):.1f} | {min(ray_) / min(loc):.2f}x |"
        )
    rows = [
        ("one run's commit to the store (put_run, median)", f"{commit:.2f} ms"),
        ("driver round trip of one Ray task (submit, run, get)", "task round trip ms"),
        ("driver CPU per task, 1000 tasks, ray.wait back-pressure", "driver cpu per task ms"),
        (f"largest dataset: covertype, {costs['rows']:,} rows", f"{costs['dataset MB']:.1f} MB"),
        ("its ray.put on the driver", "put ms"),
        (
            "its first read on a second node (pulled over loopback)",
            "first read on the second node ms",
        ),
        ("a later read there (node-local, zero-copy)", "second read on the second node ms"),
        ("its first read on the driver's node", "first read on the head node ms"),
        ("one split of it, which each task makes (80/20, standardized)", "split ms"),
    ]
    print(
        f"\nthe paper suite's work (fastest local run): {work['runs']} runs in {work['stacks']} "
        f"stacks, {work['stack seconds']:.1f} s of stack training (one core each), longest "
        f"stack {work['longest stack']:.1f} s; discovery {work['discovery seconds']:.1f} s "
        "(one core, on the driver's machine)"
    )
    print("\n| driver and data costs | value |")
    print("|---|---:|")
    for label, value in rows:
        shown = f"{costs[value]:.2f} ms" if value in costs else value
        print(f"| {label} | {shown} |")


if __name__ == "__main__":
    main()

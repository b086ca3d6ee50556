"""Whole-suite benchmark: ``symact benchmark --suite paper``, this code against the code before
the training rewrite (issue #11) and against the reference's loop, all timed in one run.

Two questions, on the real copies in ../shared/data:
  1. Is the whole suite not slower than before the rewrite? "Before" is commit ``b6f75cf``
     (``--old-commit``; the last main before it), exported with ``git archive`` into a
     temporary folder and installed into a second temporary venv with the same torch
     version (or ``--old-python``: the interpreter of a venv where it is installed). Both
     run the same command, each into a fresh ``--out`` and with its own kernel cache
     (``SYMACT_KERNEL_DIR``): first once each with an empty cache (the kernels compiled
     inside the timing), then ``--rounds`` rounds with the cache warm, in the order old, new,
     new, old, ... so that a linear drift of the machine falls on both alike.
  2. Is it still >= 10x the reference loop on covertype's grid? (a) is the reference-style
     loop (``ModelSpec.to_module``, DataLoader over a TensorDataset, Adam,
     BCEWithLogitsLoss, one model at a time): each of covertype's 6 configurations (Heavy
     ReLU; Light ReLU, GELU, SiLU, covertype's own formula and HIGGS's as this suite
     discovered them) timed once with seed 42, x3 for the grid's 3 seeds; timed twice
     (before the first and the middle warm round; once with --rounds 1) and averaged.

Also: the same command again into a filled results folder (all runs stored), and the peak
memory of each version's whole suite (separate, untimed runs: reading /proc slows the
process read).

Usage: python benchmarks/bench_suite.py [--data-dir DIR] [--epochs 15] [--rounds 2]
       [--old-commit b6f75cf | --old-python PATH] [--skip-reference] [--skip-old]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import load_covertype, protocol_split, reference_run
from symact.models import HEAVY, LIGHT
from symact.training import TrainConfig

REPO = Path(__file__).resolve().parents[1]
OLD_COMMIT = "b6f75cf"
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


def prepare_old(commit: str, root: Path) -> Path:
    """``commit`` of this repository exported into ``root/src`` and installed into the venv
    ``root/venv`` with this environment's torch version; the venv's python."""
    src, venv = root / "src", root / "venv"
    src.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    torch_version = importlib.metadata.version("torch")
    pip = [str(python), "-m", "pip", "install", "-q"]
    print(f"installing {commit} with torch=={torch_version} into {venv} ...", flush=True)
    subprocess.run([*pip, f"torch=={torch_version}"], check=True)
    subprocess.run([*pip, str(src)], check=True)
    return python


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


def _peak_rss_mb(pid: int, peak: float) -> float:
    """The largest VmHWM (peak RSS) among a process and its children so far."""
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return peak


def run_suite(
    python: Path | str,
    data_dir: Path,
    out: Path,
    epochs: int,
    kernel_dir: Path,
    sample_memory: bool = False,
) -> tuple[float, float, float, float]:
    """Wall seconds and CPU seconds (user + system of the process and everything it waited
    for: the discovery child, the compiler) of one ``symact benchmark --suite paper`` run by
    ``python`` (a fresh process), and with ``sample_memory`` the peak RSS of its largest
    process and the peak PSS of its process tree (main process plus the discovery child), in
    MB, sampled every 50 ms (reading /proc/<pid>/smaps_rollup takes the process's memory
    lock, which slows it: sample only runs that are not timed)."""
    cmd = [str(python), "-m", "symact", "benchmark", "--suite", "paper"]
    cmd += ["--data-dir", str(data_dir), "--out", str(out), "--device", "cpu"]
    cmd += ["--epochs", str(epochs)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SYMACT_KERNELS")}
    env["SYMACT_KERNEL_DIR"] = str(kernel_dir)
    peak_tree = peak_rss = 0.0
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, text=True, env=env, cwd=out.parent
        )
        while proc.poll() is None:
            if sample_memory:
                peak_tree = max(peak_tree, _tree_pss_mb(proc.pid))
                peak_rss = _peak_rss_mb(proc.pid, peak_rss)
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            log.seek(0)
            sys.exit(f"{' '.join(cmd)} failed:\n{log.read()}")
    return wall, _children_cpu() - cpu0, peak_rss, peak_tree


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def backends(out: Path) -> set[str]:
    """Which training path each run of a results folder recorded (``fused`` expected)."""
    runs = json.loads((out / "results.json").read_text())["runs"]
    return {str((r.get("result") or {}).get("backend")) for r in runs}


def git_head() -> str:
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return head + (" + uncommitted changes in src/" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("SYMACT_SHARED_DATA", REPO.parent / "shared" / "data")),
    )
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=2, help="warm-cache rounds (2)")
    parser.add_argument("--old-commit", default=OLD_COMMIT)
    parser.add_argument(
        "--old-python", type=Path, default=None, help="python of a venv with the old code"
    )
    parser.add_argument("--skip-old", action="store_true")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    load_start = os.getloadavg()

    passes: list[dict[str, float]] = []  # reference seconds per configuration, per pass
    formulas: dict[str, str] = {}

    def reference() -> None:
        """One reference run of each configuration of covertype's grid (seed 42)."""
        if args.skip_reference:
            return
        config = TrainConfig(epochs=args.epochs)
        configs = [
            ("Heavy ReLU", HEAVY),
            ("Light ReLU", LIGHT),
            ("Light GELU", LIGHT.with_activation("gelu")),
            ("Light SiLU", LIGHT.with_activation("silu")),
            ("Light " + formulas["FOREST_COVER"], LIGHT.with_activation(formulas["FOREST_COVER"])),
            ("Light " + formulas["HIGGS"], LIGHT.with_activation(formulas["HIGGS"])),
        ]
        passes.append({name: reference_run(split, spec, 42, config)[0] for name, spec in configs})

    if not args.skip_reference:
        X, y = load_covertype(args.data_dir, 100_000)
        split = protocol_split(X, y, 42)
    times: dict[tuple[str, str], list[float]] = {}  # (version, what) -> wall seconds
    cpu: dict[tuple[str, str], list[float]] = {}  # the same runs' CPU seconds
    order: list[str] = []
    memory: dict[str, tuple[float, float]] = {}
    paths: dict[str, set[str]] = {}  # version -> training backends its runs recorded
    with tempfile.TemporaryDirectory(prefix="symact-bench-suite-") as tmp:
        tmp = Path(tmp)
        (tmp / "data").mkdir()
        data_dir = canonical_dir(args.data_dir, tmp / "data")
        pythons = {"new": Path(sys.executable)}
        if not args.skip_old:
            pythons["old"] = args.old_python or prepare_old(args.old_commit, tmp / "old")
        outs = iter(tmp / f"results{i}" for i in range(1000))
        last_out: dict[str, Path] = {}

        def suite(version: str, what: str) -> None:
            out = last_out[version] if what == "again" else next(outs)
            seconds, cpu_s, _, _ = run_suite(
                pythons[version], data_dir, out, args.epochs, tmp / f"kernels-{version}"
            )
            cpu.setdefault((version, what), []).append(cpu_s)
            last_out[version] = out
            paths.setdefault(version, set()).update(backends(out))
            times.setdefault((version, what), []).append(seconds)
            order.append(f"{version} {what}")
            print(f"  {version:<3} {what:<5} {seconds:6.1f} s (CPU {cpu_s:5.1f} s)", flush=True)

        versions = [v for v in ("old", "new") if v in pythons]
        for v in versions:  # empty kernel caches: the kernels are compiled inside the timing
            suite(v, "cold")
        found = json.loads((last_out["new"] / "results.json").read_text())["discoveries"]
        formulas.update({name: d["activation"] for name, d in found.items()})
        for r in range(args.rounds):
            if r == 0 or r == args.rounds // 2:
                # the reference twice, before the first and the middle round: this machine's
                # speed drifts by tens of percent within minutes, and the ratio should not
                # depend on which side of a drift each part fell
                reference()
            for v in versions if r % 2 == 0 else versions[::-1]:
                suite(v, "warm")
        for v in versions:
            suite(v, "again")  # into a filled results folder: every run stored
        if not args.skip_memory:
            for v in versions:
                _, _, rss, pss = run_suite(
                    pythons[v],
                    data_dir,
                    next(outs),
                    args.epochs,
                    tmp / f"kernels-{v}",
                    sample_memory=True,
                )
                memory[v] = (rss, pss)
    load_end = os.getloadavg()

    if passes:
        per_config = {name: sum(p[name] for p in passes) / len(passes) for name in passes[0]}
        reference_s = 3 * sum(per_config.values())  # 3 seeds of each configuration
    else:
        per_config, reference_s = {}, float("nan")

    def fmt(value: float, unit: str = "", digits: int = 1) -> str:
        width = 7 if unit else 6
        if math.isnan(value):
            return f"{'-':>{width}}"
        return f"{value:{width - len(unit)}.{digits}f}{unit}"

    def cell(version: str, what: str) -> float:
        got = times.get((version, what))
        return statistics.mean(got) if got else float("nan")

    print(
        f"\nepochs {args.epochs}; data {args.data_dir}; new = {git_head()}, "
        f"old = {args.old_commit if any(v == 'old' for v, _ in times) else '-'}; "
        f"torch {importlib.metadata.version('torch')}"
    )
    print(f"order of the timed suite runs: {', '.join(order)}")
    print(
        "training backends recorded: "
        + "; ".join(f"{v} {', '.join(sorted(b))}" for v, b in sorted(paths.items()))
    )
    print(
        f"| {'what':<62} | {'old s':>6} | {'new s':>6} | {'new/old':>7} | {'ref/old':>7} "
        f"| {'ref/new':>7} |"
    )
    print(f"|{'-' * 64}|{'-' * 7}:|{'-' * 7}:|{'-' * 8}:|{'-' * 8}:|{'-' * 8}:|")
    print(
        f"| {'(a) reference loop, covertype grid (6 configs x 3 seeds)':<62} | "
        f"{'':>6} | {'':>6} | {'':>7} | {'':>7} | {fmt(reference_s, 's')} |"
    )
    labels = {
        "cold": "(b) whole suite, fresh --out, empty kernel cache",
        "warm": f"(b') whole suite, fresh --out, kernels cached (mean of {args.rounds})",
        "again": "(c) the same command again (all runs stored)",
    }
    for what, label in labels.items():
        old, new = cell("old", what), cell("new", what)
        print(
            f"| {label:<62} | {fmt(old)} | {fmt(new)} | {fmt(new / old, 'x', 2)} | "
            f"{fmt(reference_s / old, 'x')} | {fmt(reference_s / new, 'x')} |"
        )
    for version in ("old", "new"):
        got = times.get((version, "warm"), [])
        each = ", ".join(f"{s:.1f}" for s in got)
        best = f"; fastest {min(got):.1f} s" if got else ""
        print(f"{version} suite, kernels cached, each run: {each} s{best}")
    for what in ("cold", "warm", "again"):
        if cpu.get(("old", what)) and cpu.get(("new", what)):
            old, new = statistics.mean(cpu[("old", what)]), statistics.mean(cpu[("new", what)])
            print(
                f"CPU seconds (all the suite's processes), {what}: old {old:.1f}, new {new:.1f} "
                f"-> new/old {new / old:.2f}x"
            )
    if times.get(("old", "warm")) and times.get(("new", "warm")):
        best = min(times[("new", "warm")]) / min(times[("old", "warm")])
        print(f"fastest new / fastest old, kernels cached: {best:.2f}x (interference only adds)")
    print()
    for what in ("cold", "warm"):
        old, new = cell("old", what), cell("new", what)
        if not math.isnan(old):
            verdict = "not slower" if new <= old else f"SLOWER by {100 * (new / old - 1):.0f}%"
            print(f"{what} kernel cache: new/old {new / old:.2f}x (means) -> {verdict} than before")
        if not math.isnan(reference_s):
            ratio = reference_s / new
            ok = "meets" if ratio >= 10 else "MISSES"
            print(f"{what} kernel cache: reference/new {ratio:.1f}x -> {ok} the >= 10x target")
    for version, (rss, pss) in memory.items():
        print(
            f"peak memory, {version} (a separate, untimed run): largest process {rss:.0f} MB "
            f"RSS; main process and discovery child together {pss:.0f} MB PSS"
        )
    for name, seconds in per_config.items():
        each = ", ".join(f"{p[name]:.1f}" for p in passes)
        print(f"reference run, {name}: {seconds:.1f} s (passes: {each})")
    print(f"load average (1 min) at start / end: {load_start[0]:.2f} / {load_end[0]:.2f}")


if __name__ == "__main__":
    main()

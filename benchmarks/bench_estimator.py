"""Benchmark: SymbolicMLPClassifier.fit against the same model trained by `symact benchmark`.

Target (issue 23): the estimator's fit on a 5,000-row dataset costs at most 1.3x the same
model trained through `symact benchmark`. The dataset is the first 5,000 rows of HIGGS (a
CSV written here from ``higgs_first10k.csv.gz``). `symact benchmark` trains Light x*cos(x)
(seed 42, 15 epochs, batch 1024) on the protocol's 80% training part, 4,000 rows; its stored
``train_seconds`` is the training stage's time for that model. The estimator is then fitted
on the same 4,000 raw training rows (same ModelSpec, TrainConfig and seed: the same work),
and, for the record, on all 5,000 rows. All rows of the printed table come from one run;
"ratio" divides the estimator's whole fit (validation, scaling, training, copying the model
out) by the benchmark's training time, and by the benchmark command's wall time.

    python benchmarks/bench_estimator.py [--data-dir DIR] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from symact.sklearn import SymbolicMLPClassifier

ACTIVATION = "x*cos(x)"
SEED = 42


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    raw = pd.read_csv(Path(args.data_dir) / "higgs_first10k.csv.gz", header=None, nrows=5000)
    raw.columns = ["label", *[f"f{i}" for i in range(1, raw.shape[1])]]
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "higgs5k.csv"
        raw.to_csv(csv, index=False)
        out = Path(tmp) / "results"
        argv = [
            sys.executable, "-m", "symact", "benchmark", "--datasets", str(csv),
            "--target", "label", "--activations", ACTIVATION, "--heavy-widths", "none",
            "--seeds", str(SEED), "--discovery", "none", "--out", str(out), "--device", "cpu",
        ]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        command_seconds = time.perf_counter() - start
        with sqlite3.connect(out / "symact.sqlite") as conn:
            rows = [json.loads(r) for (r,) in conn.execute("SELECT result FROM runs")]
        (run,) = [r for r in rows if not r.get("failed")]
        bench_seconds = float(run["train_seconds"])
    X = raw.drop(columns=["label"]).to_numpy()
    y = raw["label"].astype(int).to_numpy()
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=SEED)

    def fit_seconds(Xf: np.ndarray, yf: np.ndarray) -> float:
        best = np.inf
        for _ in range(args.repeats):
            clf = SymbolicMLPClassifier(ACTIVATION, hidden=(64, 32), random_state=SEED)
            start = time.perf_counter()
            clf.fit(Xf, yf)
            best = min(best, time.perf_counter() - start)
        return best

    same_rows = fit_seconds(X_train, y_train)
    all_rows = fit_seconds(X, y)
    print(f"HIGGS first 5,000 rows, Light {ACTIVATION}, 15 epochs, seed {SEED}")
    print(f"{'what':58s} {'seconds':>8s} {'ratio':>6s}")
    print(f"{'symact benchmark: stored train_seconds (4,000 rows)':58s} {bench_seconds:8.3f}")
    print(f"{'symact benchmark: whole command (wall)':58s} {command_seconds:8.3f}")
    print(
        f"{f'estimator fit, same 4,000 rows (best of {args.repeats})':58s} "
        f"{same_rows:8.3f} {same_rows / bench_seconds:6.2f}"
    )
    print(
        f"{f'estimator fit, all 5,000 rows (best of {args.repeats})':58s} "
        f"{all_rows:8.3f} {all_rows / bench_seconds:6.2f}"
    )
    verdict = "meets" if same_rows / bench_seconds <= 1.3 else "misses"
    print(f"target fit <= 1.3x benchmark training: {verdict} ({same_rows / bench_seconds:.2f}x)")


if __name__ == "__main__":
    main()

"""Benchmark: loading the whole development suite (17 files) through its suite file.

``symact benchmark --suite tabular`` validates the suite file, then loads every dataset
(read, labels, one-hot text columns, checks) before anything trains. Target: <= 5 s on 2
cores for the 17 files, printed beside the time pandas alone takes to read the same files
(the floor: decompress and parse), so the ratio shows what symact adds. Best of N repeats.

    python benchmarks/bench_suite_load.py [--data-dir ../shared/data/tabular] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from symact.experiments.datacache import DataCache
from symact.experiments.suite_file import load_suite_file, shipped_suite_files

TARGET_S = 5.0
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "tabular"


def load_with_symact(data_dir: Path) -> tuple[float, float, int]:
    """Seconds to validate the suite file, seconds to load every dataset, and cells loaded."""
    start = time.perf_counter()
    found = load_suite_file(shipped_suite_files()["tabular"], data_dir=data_dir)
    validated = time.perf_counter()
    cache = DataCache(str(data_dir))
    cells = sum(cache.dataset(d).X.size for d in found.datasets)
    return validated - start, time.perf_counter() - validated, cells


def load_with_pandas(data_dir: Path) -> float:
    start = time.perf_counter()
    for path in sorted(data_dir.glob("*.csv.gz")):
        pd.read_csv(path)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    files = sorted(args.data_dir.glob("*.csv.gz"))
    runs = [(load_with_symact(args.data_dir), load_with_pandas(args.data_dir))]
    for _ in range(args.repeats - 1):
        runs.append((load_with_symact(args.data_dir), load_with_pandas(args.data_dir)))
    validate = min(r[0][0] for r in runs)
    symact_s = min(r[0][0] + r[0][1] for r in runs)
    pandas_s = min(r[1] for r in runs)
    cells = runs[0][0][2]
    print(f"development suite: {len(files)} files in {args.data_dir}, {cells:,} feature cells")
    print(f"{'step':<36}{'seconds':>10}")
    print(f"{'validate the suite file':<36}{validate:>10.3f}")
    print(f"{'symact: validate + load all':<36}{symact_s:>10.3f}")
    print(f"{'pandas read_csv of the same files':<36}{pandas_s:>10.3f}")
    print(f"ratio symact / pandas: {symact_s / pandas_s:.2f}x")
    verdict = "met" if symact_s <= TARGET_S else "MISSED"
    print(f"target <= {TARGET_S:.0f} s: {verdict} ({symact_s:.2f} s, best of {len(runs)})")


if __name__ == "__main__":
    main()

"""Benchmark: where a finished search's rung fidelity is lost — training length, rows, seeds.

A search stores, for its last rung, the Spearman between the last screening rung (a short
fixed length, the search's validation rows, the search seeds) and the last rung (trained to
convergence, the selection rows, fresh seeds): three things change at once. This trains the
last rung's candidates once more, to convergence on the *screening* rung's rows and seeds
(stored in the search's own store, so a rerun trains nothing), and prints the Spearman of
each change on its own, and each converged ranking's agreement between two seeds: the
ceiling any cheaper score can be expected to reach.

    python benchmarks/bench_fidelity.py --search <a search's --out folder> --data-dir DIR
        [--all]   # the baselines the rungs also trained, not only the candidates
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from symact.experiments import DataCache
from symact.experiments.runner import run_grid
from symact.experiments.specs import RunSpec
from symact.experiments.store import ResultsStore
from symact.search.evolution import AUTO_PATIENCE


def _model(spec: dict) -> str:
    return json.dumps(spec["model"], sort_keys=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search", type=Path, required=True, help="a finished search's folder")
    parser.add_argument("--data-dir", default=None, help="where its data lives (--data-dir)")
    parser.add_argument("--all", action="store_true", help="baselines too, not only candidates")
    args = parser.parse_args()
    doc = json.loads((args.search / "search.json").read_text())
    screen, last = doc["rungs"][-2], doc["rungs"][-1]
    if last.get("patience") is None:
        raise SystemExit("the search's last rung trained a fixed length: nothing to separate")
    with sqlite3.connect(args.search / "symact.sqlite") as conn:
        stored = [
            (json.loads(s), json.loads(r)) for s, r in conn.execute("SELECT spec, result FROM runs")
        ]
    screened: dict[str, dict[int, tuple[dict, float]]] = {}
    final: dict[str, dict[int, float]] = {}
    for spec, result in stored:
        split, train = spec["split"], spec["train"]
        is_screen = train == {"epochs": screen["epochs"]} and "validation" in split
        is_last = train.get("patience") and "selection" in split and "validation" not in split
        if is_screen and spec["seed"] in screen["seeds"]:
            screened.setdefault(_model(spec), {})[spec["seed"]] = (spec, result["auc"])
        elif is_last and spec["seed"] in last["seeds"]:
            final.setdefault(_model(spec), {})[spec["seed"]] = result["auc"]
    formulas = {doc["candidates"][i]["formula"] for i in last["candidates"]}
    models = [
        m
        for m in final
        if len(screened.get(m, {})) == len(screen["seeds"]) and len(final[m]) == len(last["seeds"])
        and (args.all or json.loads(m).get("activation", "relu(x)") in formulas)
    ]  # fmt: skip
    patience = last.get("patience") or AUTO_PATIENCE
    converged_specs = {
        m: [
            RunSpec.from_dict({**spec, "train": {"epochs": last["epochs"], "patience": patience}})
            for spec, _ in screened[m].values()
        ]
        for m in models
    }
    with ResultsStore(args.search / "symact.sqlite") as store:
        run_grid(
            [s for specs in converged_specs.values() for s in specs],
            store,
            DataCache(args.data_dir),
        )
        same = {
            m: [store.get_run(s.key())["auc"] for s in specs]
            for m, specs in converged_specs.items()
        }

    def rho(a, b) -> str:
        return f"{spearmanr(a, b)[0]:+.2f}"

    short = [np.mean([auc for _, auc in screened[m].values()]) for m in models]
    conv = [np.mean(same[m]) for m in models]
    last_mean = [np.mean(list(final[m].values())) for m in models]
    print(
        f"{args.search.name}: {len(models)} {'runs' if args.all else 'candidates'} of the last "
        f"rung; screening rung {screen['epochs']} epochs, seeds {screen['seeds']}; last rung "
        f"to convergence, seeds {last['seeds']}"
    )
    print(f"  stored (length, rows and seeds change together):        {rho(short, last_mean)}")
    print(f"  length only (converged on the screening rows and seeds): {rho(short, conv)}")
    print(f"  rows and seeds only (both converged):                    {rho(conv, last_mean)}")
    first, second = screen["seeds"][:2]
    print(
        "  one seed against another, converged on the screening rows: "
        f"{rho([same[m][0] for m in models], [same[m][1] for m in models])} "
        f"(seeds {first}, {second})"
    )
    a, b = last["seeds"][:2]
    print(
        f"  one seed against another, the last rung:                  "
        f"{rho([final[m][a] for m in models], [final[m][b] for m in models])} (seeds {a}, {b})"
    )


if __name__ == "__main__":
    main()

"""Benchmark: how well the search's rungs predict the final length, and why the finalists
are chosen on selection rows.

For each dataset and seed, ``symact search`` runs as a user runs it (default rungs 3, 9 and
the final length, to convergence by validation; ``--budget`` candidates; extra arguments
after ``--`` go to every search); then the last rung's pool is scored once more at the final length
with the same fresh seeds, but on the search's own validation rows instead of the selection
rows. Printed per search:

- every rung: candidates, epochs, rows, Spearman with the rung before (the issue's fidelity
  target: >= 0.6 between the last screening rung and the final length on covertype, HIGGS),
  and the last screening rung against the final length on the same rows (the last rung
  changes the rows and the seeds too);
- the winner on the search's validation rows at the final length, and whether it is still
  the winner on the selection rows (its rank there), with the Spearman between the two
  row sets on the pool: how much of a choice made on the rows the search selected on is
  those rows' luck.

    python benchmarks/bench_rungs.py --data-dir DIR --datasets spambase,covertype,higgs \\
        [--seeds 0,1,2] [--budget 300]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from scipy import stats


def pool_on_search_rows(out: Path, argv: list[str]) -> dict[int, float]:
    """The last rung's pool scored at the final length, select seeds, on the search's
    validation rows (trained here, stored beside the search's runs)."""
    from symact.cli import build_parser
    from symact.cli.search import plan
    from symact.experiments import DataCache
    from symact.experiments.executors import LocalExecutor
    from symact.experiments.runner import run_grid
    from symact.experiments.store import ResultsStore
    from symact.formula.parser import parse_formula
    from symact.search.evolution import Search, stage_score

    args = build_parser().parse_args(argv)
    (data,), _, _, settings, _ = plan(args)
    doc = json.loads((out / "search.json").read_text())
    last = doc["rungs"][-1]
    formulas = {c["index"]: c["formula"] for c in doc["candidates"]}
    cache = DataCache(args.data_dir)
    data = cache.identify(data)
    with ResultsStore(out / "symact.sqlite") as store:

        def train(specs):
            run_grid(specs, store, cache, executor=LocalExecutor("cpu", workers=2))

        search = Search(data, settings, store, cache, train, n_classes=cache.n_classes(data))
        groups = {}
        for i in last["candidates"]:
            specs = search.rung_specs(parse_formula(formulas[i]), len(settings.ladder) - 1)
            groups[i] = [replace(s, split=settings.search_split()) for s in specs]
        train([s for g in groups.values() for s in g])
        results = store.stored_runs(s.key() for g in groups.values() for s in g)
        return {
            i: stage_score([results.get(s.key()) for s in g], search.n_classes)[1]
            for i, g in groups.items()
        }


def main() -> None:
    from symact.cli import main as symact

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--datasets", default="spambase,covertype,higgs")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--budget", default="300")
    parser.add_argument("--out", default=None, help="keep the searches here")
    parser.add_argument("extra", nargs="*", help="more search arguments, after --")
    a = parser.parse_args()
    root = Path(a.out or tempfile.mkdtemp(prefix="bench-rungs-"))
    for name in a.datasets.split(","):
        for seed in a.seeds.split(","):
            out = root / f"{name}-{seed}"
            argv = ["search", "--dataset", name, "--data-dir", a.data_dir, "--seed", seed,
                    "--budget", a.budget, "--no-specialist-baseline",
                    "--out", str(out), *a.extra]  # fmt: skip
            assert symact(argv) == 0, argv
            doc = json.loads((out / "search.json").read_text())
            print(f"\n== {name}, --seed {seed}, --budget {a.budget}")
            print("rung  candidates  epochs  rows               Spearman with the rung before")
            for r in doc["rungs"]:
                rho = "" if r["spearman"] is None else f"{r['spearman']:+.3f}"
                epochs = r["epochs"] if r.get("patience") is None else "auto"
                print(f"{r['rung']:>4}  {len(r['candidates']):>10}  {epochs:>6}  "
                      f"{r['rows']:<17}  {rho}")  # fmt: skip
            last = doc["rungs"][-1]
            selection = dict(zip(last["candidates"], last["scores"], strict=True))
            searched = pool_on_search_rows(out, argv)
            common = [
                i for i in selection if selection[i] is not None and searched[i] == searched[i]
            ]
            by_search = max(common, key=lambda i: (searched[i], -i))
            order = sorted(common, key=lambda i: (-selection[i], i))
            rho = stats.spearmanr([searched[i] for i in common], [selection[i] for i in common])
            before = doc["rungs"][-2]
            screened = dict(zip(before["candidates"], before["scores"], strict=True))
            same_rows = stats.spearmanr(
                [screened[i] for i in common], [searched[i] for i in common]
            )
            print(
                f"the last screening rung ({before['epochs']} epochs) against the final length "
                f"on the same (search validation) rows: Spearman {same_rows.statistic:+.3f}"
            )
            print(
                f"pool of {len(common)} at the final length: the winner on the search's "
                f"validation rows ranks {order.index(by_search) + 1} on the selection rows; "
                f"Spearman between the two row sets {rho.statistic:+.3f}"
            )
            finals = [r for r in doc["results"] if r["activation"].startswith("candidate")]
            offered = sum(bool(r["offered"]) for r in finals)
            print(f"finalists offered (beat the best baseline on selection rows): {offered}/"
                  f"{len(finals)}")  # fmt: skip


if __name__ == "__main__":
    main()

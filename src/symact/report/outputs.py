"""A finished suite's outputs: the reference's CSV and figures, plus results.json.

Everything here is read back from the results store, so the outputs of a resumed run are
the same as those of an uninterrupted one.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from symact.experiments import ResultsStore, SuiteOutcome
from symact.experiments.runner import environment
from symact.experiments.suites import discovery_specs
from symact.report.plots import (
    plot_accuracy_vs_params,
    plot_activation,
    plot_activations_combined,
)
from symact.report.statistics import paired_differences
from symact.report.tables import (
    RunRecord,
    efficiency_table,
    summary_table,
    to_markdown,
    write_efficiency_csv,
)


def suite_records(outcome: SuiteOutcome, store: ResultsStore) -> list[RunRecord]:
    """One record per grid entry whose run is stored."""
    records = []
    for e in outcome.entries:
        r = store.get_run(e.spec.key())
        if r is None:
            continue
        records.append(
            RunRecord(
                dataset=e.dataset_label,
                architecture=e.architecture_label,
                activation=e.activation_label,
                seed=e.spec.seed,
                accuracy=float(r["accuracy"]) if r["accuracy"] is not None else float("nan"),
                auc=float(r["auc"]) if r["auc"] is not None else float("nan"),
                params=int(r["params"]),
                failed=bool(r["failed"]),
            )
        )
    return records


def _results_json(outcome: SuiteOutcome, store: ResultsStore) -> dict[str, Any]:
    s = outcome.suite
    runs = []
    for e in outcome.entries:
        r = store.get_run(e.spec.key())
        runs.append(
            {
                "key": e.spec.key(),
                "dataset": e.dataset_label,
                "architecture": e.architecture_label,
                "activation_label": e.activation_label,
                "spec": e.spec.to_dict(),
                "result": r,
            }
        )
    # The stored records already hold the simplified formula and its LaTeX: no second sympy pass.
    discoveries = {
        outcome.labels[spec.data.name]: store.get_discovery(spec.key())
        for spec in discovery_specs(s)
    }
    return {
        "suite": s.name,
        "protocol": {
            "seeds": list(s.seeds),
            "train": asdict(s.train),
            "test_size": s.test_size,
            "discovery": s.discovery.identity(),
            "datasets": [d.to_dict() for d in s.datasets],
            "transfer_sources": list(s.transfer_sources),
        },
        "environment": environment(),
        "data": {outcome.labels[k]: v for k, v in outcome.data_provenance.items()},
        "discoveries": discoveries,
        "runs": runs,
    }


def _draw(figures: list[Callable[[], object]]) -> None:
    """Draw the figures, every other one in a forked child where fork and a second core exist.

    Rendering a PNG is ~0.25 s of single-threaded CPU and it is the last thing a suite does,
    with a core idle. If the child fails, its figures are drawn here, so a real error is
    raised here with its own traceback.
    """
    forkable = "fork" in multiprocessing.get_all_start_methods()
    if len(figures) < 2 or (os.cpu_count() or 1) < 2 or not forkable:
        _draw_all(figures)
        return
    theirs, ours = figures[::2], figures[1::2]
    child = multiprocessing.get_context("fork").Process(target=_draw_all, args=(theirs,))
    child.start()
    try:
        _draw_all(ours)
    finally:
        child.join()
    if child.exitcode != 0:
        _draw_all(theirs)


def _draw_all(figures: list[Callable[[], object]]) -> None:
    for draw in figures:
        draw()


def write_suite_outputs(outcome: SuiteOutcome, store: ResultsStore, out: Path) -> str:
    """Write CSV, figures, statistics and results.json into ``out``; return the markdown table."""
    out.mkdir(parents=True, exist_ok=True)
    records = suite_records(outcome, store)
    table = efficiency_table(records)
    write_efficiency_csv(table, out / "final_efficiency_results.csv")
    summary_table(records).to_csv(out / "summary.csv", index=False)
    paired = paired_differences(records)
    paired.to_csv(out / "paired_vs_heavy.csv", index=False)

    figures: list[Callable[[], object]] = []
    combined = []
    for name, d in outcome.discoveries.items():
        label = outcome.labels[name]
        fn = d.activation.to_numpy()
        path = out / f"activation_{label}.png"
        figures.append(partial(plot_activation, fn, str(d.activation), label, path))
        combined.append((label, str(d.activation), fn))
    figures.append(partial(plot_activations_combined, combined, out / "activation_combined.png"))
    figures.append(partial(plot_accuracy_vs_params, records, out / "accuracy_vs_params.png"))
    _draw(figures)

    (out / "results.json").write_text(json.dumps(_results_json(outcome, store), indent=2))
    return to_markdown(table)

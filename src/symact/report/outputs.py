"""A finished suite's outputs, rebuilt from its results store alone.

A suite run leaves two things in its store: every run and discovery (committed as they
finished) and one ``suite`` document (:func:`suite_document`: the settings, which run is
which table row, the formulas and where they came from, the data's provenance). Every
output — the reference's CSV and figures, the statistics, the transfer matrix, the claims
audit, ``results.json`` and ``report.html`` — is computed from those (:func:`write_outputs`),
so the outputs of a resumed run equal those of an uninterrupted one, and ``symact report
DIR`` rebuilds them from the folder.

Files are written into a staging folder inside ``out`` and moved into place one by one
with ``os.replace``: an interrupt leaves every output either old or new, never half
written.
"""

from __future__ import annotations

import contextlib
import errno
import json
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path
from typing import Any

from symact.errors import OutputError
from symact.experiments import ResultsStore, SuiteOutcome
from symact.experiments.background import child_signals, start_child
from symact.experiments.executors import environment
from symact.experiments.suites import discovery_specs
from symact.formula import parse_formula
from symact.formula.tree import FormulaError
from symact.numbers import none_as_nan
from symact.report.configurations import FormulaConfiguration
from symact.report.html import ReportFigure, ReportTable
from symact.report.plots import (
    plot_accuracy_vs_params,
    plot_activation,
    plot_activations_combined,
)
from symact.report.review import build_review, write_review
from symact.report.statistics import paired_differences
from symact.report.tables import (
    HEAVY_BASELINE,
    RunRecord,
    efficiency_table,
    summary_table,
    to_markdown,
    write_efficiency_csv,
)

SUITE_DOCUMENT = "suite"


def suite_document(outcome: SuiteOutcome) -> dict[str, Any]:
    """What the outputs need beyond the runs, as plain JSON (stored with the runs)."""
    s = outcome.suite
    labels = outcome.labels
    return {
        "suite": s.name,
        "protocol": {
            "seeds": list(s.seeds),
            "train": asdict(s.train),
            "test_size": s.test_size,
            "light": s.light.to_dict(),
            "heavy": None if s.heavy is None else s.heavy.to_dict(),
            "activations": list(s.activations),
            "learnable_constants": s.learnable_constants,
            "discovery": s.discovery_method,
            "discovery_settings": s.discovery.identity(),
            "discovery_seeds": list(s.gp_seeds),
            "discovery_part": s.discovery_part,
            "reference": s.reference,
            "datasets": [d.to_dict() for d in s.datasets],
            "transfer_sources": list(s.transfer_sources),
            "split": "the paper's: a new seeded 80/20 split per training seed",
        },
        "labels": labels,
        "data": {labels[k]: v for k, v in outcome.data_provenance.items()},
        "entries": [
            {
                "key": e.spec.key(),
                "dataset": e.dataset_label,
                "architecture": e.architecture_label,
                "activation": e.activation_label,
                "formula": e.spec.model.activation_text,
                "seed": e.spec.seed,
            }
            for e in outcome.entries
        ],
        "formulas": formula_entries(outcome),
        "references": outcome.references,
        "discoveries": [
            {
                "dataset": labels[d.data.name],
                "discovery_seed": d.settings.seed,
                "split_seed": None if d.part is None else d.part.seed,
                "key": d.key(),
            }
            for d in discovery_specs(s)
        ],
    }


def formula_entries(outcome: SuiteOutcome) -> list[dict[str, Any]]:
    """One entry per formula row of the tables. Discovered on training parts, a row trains
    each seed's own formula: ``split_formulas`` maps the seed to it, and ``formula`` names
    them all when they differ (the report's label; the figures draw each)."""
    labels = outcome.labels
    rows: dict[tuple, dict[str, Any]] = {}
    for f in outcome.formulas:
        key = (f.dataset, f.source, f.discovery_seed, f.label)
        entry = rows.setdefault(
            key,
            {
                "dataset": labels[f.dataset],
                "source_dataset": labels[f.source],
                "model": f"Light {f.label}",
                "formula": f.formula,
                "discovery_seed": f.discovery_seed,
            },
        )
        if f.split_seed is not None:
            entry.setdefault("split_formulas", {})[str(f.split_seed)] = f.formula
    for entry in rows.values():
        split = entry.get("split_formulas", {})
        if len(set(split.values())) > 1:
            entry["formula"] = "per split: " + "; ".join(f"{k}: {v}" for k, v in split.items())
    return list(rows.values())


def _configuration(entry: dict[str, Any]) -> FormulaConfiguration:
    return FormulaConfiguration(**{k: v for k, v in entry.items() if k != "split_formulas"})


def save_suite(outcome: SuiteOutcome, store: ResultsStore) -> None:
    store.put_document(SUITE_DOCUMENT, suite_document(outcome))


def records(doc: dict[str, Any], store: ResultsStore) -> list[RunRecord]:
    """One record per table row and seed whose run is stored."""
    results = store.stored_runs(e["key"] for e in doc["entries"])
    out = []
    for e in doc["entries"]:
        r = results.get(e["key"])
        if r is None:
            continue
        out.append(
            RunRecord(
                dataset=e["dataset"],
                architecture=e["architecture"],
                activation=e["activation"],
                seed=int(e["seed"]),
                accuracy=none_as_nan(r["accuracy"]),
                auc=none_as_nan(r["auc"]),
                params=int(r["params"]),
                failed=bool(r["failed"]),
                epochs_run=int(r.get("epochs_run") or 0),
                best_epoch=int(r.get("best_epoch") or 0),
                stopped_early=bool(r.get("stopped_early")),
            )
        )
    return out


def stored_convergence_note(store: ResultsStore) -> str | None:
    """:func:`convergence_note` of the suite stored in ``store``."""
    doc = store.get_document(SUITE_DOCUMENT)
    return None if doc is None else convergence_note(records(doc, store))


def convergence_note(runs: Sequence[RunRecord]) -> str | None:
    """One line naming the configurations still improving when training stopped: trained
    with early stopping (``best_epoch`` > 0), a run reached the maximum of epochs without
    running out of patience, so its verdict may change with more epochs. None when none."""
    open_ended = sorted(
        {f"{r.dataset}: {r.model}" for r in runs if r.best_epoch > 0 and not r.stopped_early}
    )
    if not open_ended:
        return None
    shown = "; ".join(open_ended[:5]) + (
        f"; and {len(open_ended) - 5} more" if len(open_ended) > 5 else ""
    )
    return (
        f"Still improving at the maximum of epochs (raise --epochs or the suite file's "
        f"maximum): {shown}."
    )


def _results_json(doc: dict[str, Any], store: ResultsStore) -> dict[str, Any]:
    results = store.stored_runs(e["key"] for e in doc["entries"])
    runs = [{**e, "result": results.get(e["key"])} for e in doc["entries"]]
    # the stored records already hold the simplified formula and its LaTeX: no sympy here
    several = len(doc["protocol"]["discovery_seeds"]) > 1
    discoveries = {
        d["dataset"]
        + (f" (discovery seed {d['discovery_seed']})" if several else "")
        + (f" (split {d['split_seed']})" if d.get("split_seed") is not None else ""): (
            store.get_discovery(d["key"])
        )
        for d in doc["discoveries"]
    }
    return {
        "suite": doc["suite"],
        "protocol": doc["protocol"],
        "environment": environment(),
        "data": doc["data"],
        "discoveries": discoveries,
        "formulas": doc["formulas"],
        "runs": runs,
        "references": [{**e, "result": store.get_run(e["key"])} for e in doc.get("references", [])],
    }


def _draw(figures: list[Callable[[], object]]) -> None:
    """Draw the figures, every other one in a forked child where fork and a second core exist.

    Rendering a PNG is ~0.25 s of single-threaded CPU and it is the last thing a suite does,
    with a core idle. If the child fails, its figures are drawn here, so a real error is
    raised here with its own traceback.
    """
    forkable = "fork" in multiprocessing.get_all_start_methods()
    if len(figures) < 2 or (os.cpu_count() or 1) < 2 or not forkable:
        for draw in figures:
            draw()
        return
    theirs, ours = figures[::2], figures[1::2]
    child = multiprocessing.get_context("fork").Process(target=_draw_child, args=(theirs,))
    start_child(child)
    try:
        _draw_all(ours)
    finally:
        child.join()
    if child.exitcode != 0:
        _draw_all(theirs)


def _draw_all(figures: list[Callable[[], object]]) -> None:
    for draw in figures:
        draw()


def _draw_child(figures: list[Callable[[], object]]) -> None:
    child_signals()
    _draw_all(figures)


def _figures(doc: dict[str, Any], runs: list[RunRecord], out: Path) -> list[tuple[str, Path]]:
    """Draw the activation plots and accuracy-vs-parameters into ``out``; (title, path)."""
    drawn: list[tuple[str, Path]] = []
    jobs: list[Callable[[], object]] = []
    combined = []
    for f in doc["formulas"]:
        if f["dataset"] != f["source_dataset"]:
            continue  # each discovered formula once: on its own dataset
        label = f["dataset"] + (
            "" if len(doc["protocol"]["discovery_seeds"]) < 2 else f"_seed{f['discovery_seed']}"
        )
        by_split = f.get("split_formulas") or {"": f["formula"]}
        for split, text in by_split.items():
            name = label if not split else f"{label}_split{split}"
            fn = parse_formula(text).to_numpy()
            path = out / f"activation_{name}.png"
            jobs.append(partial(plot_activation, fn, text, name, path))
            combined.append((name, text, fn))
            drawn.append((f"Activation discovered on {name}", path))
    mine = _formula_activations(doc["protocol"]["activations"])
    if mine:
        path = out / "activation_yours.png"
        jobs.append(partial(plot_activations_combined, mine, path))
        drawn.insert(0, ("Your activations", path))
    if combined:
        path = out / "activation_combined.png"
        jobs.append(partial(plot_activations_combined, combined, path))
        drawn.append(("Discovered activations", path))
    if any(not r.failed for r in runs):
        path = out / "accuracy_vs_params.png"
        jobs.append(partial(plot_accuracy_vs_params, runs, path))
        drawn.append(("Accuracy against parameters", path))
    _draw(jobs)
    return drawn


def _formula_activations(activations: list[str]) -> list[tuple[str, str, Any]]:
    """The Light activations given as formulas (named ones such as ``gelu`` are not
    formulas), each as (label, text, numpy function) for the activation plot."""
    items = []
    for text in activations:
        try:
            formula = parse_formula(text)
        except FormulaError:
            continue  # a named activation: PyTorch's, nothing of the user's to draw
        items.append((f"Light {text}", text, formula.to_numpy()))
    return items


def learned_constants(doc: dict[str, Any], store: ResultsStore) -> list[dict[str, Any]]:
    """One row per run that learned its activation's constants: the formula of each hidden
    layer after training (``--learnable-constants``)."""
    results = store.stored_runs(e["key"] for e in doc["entries"])
    rows = []
    for e in doc["entries"]:
        learned = (results.get(e["key"]) or {}).get("learned_formulas") or []
        if learned:
            rows.append(
                {
                    "dataset": e["dataset"],
                    "model": f"{e['architecture']} {e['activation']}",
                    "seed": int(e["seed"]),
                    "learned formula per hidden layer": " | ".join(learned),
                }
            )
    return rows


def write_outputs(store: ResultsStore, out: str | Path) -> str:
    """Write every output of the suite stored in ``store`` into ``out``; return the
    markdown efficiency table. ValueError when the store holds no suite."""
    doc = store.get_document(SUITE_DOCUMENT)
    if doc is None:
        raise ValueError(
            f"{store.path} holds no finished symact benchmark; run `symact benchmark --out "
            f"{Path(store.path).parent}` first"
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with staging(out) as stage:
        runs = records(doc, store)
        # a reference model (--reference) is context: in the tables and the figure, never
        # in the review's statistics or claims
        context = records({"entries": doc.get("references", [])}, store)
        table = efficiency_table(runs + context)
        write_efficiency_csv(table, stage / "final_efficiency_results.csv")
        summary_table(runs + context).to_csv(stage / "summary.csv", index=False)
        if any((r.architecture, r.activation) == HEAVY_BASELINE for r in runs):
            paired_differences(runs).to_csv(stage / "paired_vs_heavy.csv", index=False)
        drawn = _figures(doc, runs + context, stage)
        formulas = [_configuration(f) for f in doc["formulas"]]
        # a store written before --discovery-part used the paper's: all rows
        part = doc["protocol"].get("discovery_part", "all")
        review = build_review(runs, formulas, discovery_part=part)
        review = replace(review, efficiency=table)  # the reference's row: shown, not judged
        provenance = [{"dataset": label, **p} for label, p in doc["data"].items()]
        write_review(
            review,
            stage,
            title=_title(doc),
            run_settings=doc["protocol"],
            provenance=provenance,
            versions=environment(),
            figures=[ReportFigure(title, path) for title, path in drawn],
            tables=_learned_table(doc, store),
            notes=[n for n in (convergence_note(runs),) if n],
        )
        text = json.dumps(_results_json(doc, store), indent=2)
        (stage / "results.json").write_text(text, encoding="utf-8")
    return to_markdown(table)


def _learned_table(doc: dict[str, Any], store: ResultsStore) -> list[ReportTable]:
    rows = learned_constants(doc, store)
    if not rows:
        return []
    note = "The activation's constants after training, per run and hidden layer."
    return [ReportTable("Learned constants", rows, note, "learned")]


def _title(doc: dict[str, Any]) -> str:
    if doc["suite"] == "custom":
        return f"symact benchmark: {', '.join(doc['labels'].values())}"
    return f"symact benchmark: {doc['suite']} suite"


@contextlib.contextmanager
def staging(out: Path):
    """A folder in ``out`` whose files are moved into ``out`` (each atomically) on success,
    and which is removed either way."""
    for stale in out.glob(".symact-outputs-*"):  # left by a killed run (the store's lock
        shutil.rmtree(stale, ignore_errors=True)  # makes this process the only writer)
    with _writable(out):
        stage = Path(tempfile.mkdtemp(prefix=".symact-outputs-", dir=out))
    try:
        with _writable(out):
            yield stage
            for path in sorted(stage.iterdir()):
                os.replace(path, out / path.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


#: what the machine says when a folder cannot take files: the user's to fix, not a bug
_NOT_WRITABLE = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


@contextlib.contextmanager
def _writable(out: Path):
    """A full disk or a folder made read-only while outputs are written is an
    :class:`~symact.errors.OutputError` naming the folder; the stored runs are kept, so
    ``symact report`` writes the outputs once it is fixed."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _NOT_WRITABLE:
            raise
        raise OutputError(
            f"cannot write the outputs into {out} ({exc.strerror}: {exc.filename}); the runs "
            f"are stored: free space or make it writable, then run `symact report {out}`"
        ) from None

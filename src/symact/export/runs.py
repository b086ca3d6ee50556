"""Which run to export, and its network, retrained from the stored spec.

Runs store metrics, not weights. A run is a pure function of its :class:`RunSpec` (seeded
initialization, data order and dropout; the split its seed draws), so the network is
retrained from the stored spec on the same rows and checked: the retrained model's stored
metric (test or validation AUC and accuracy) must equal the stored one, else the export
stops. Retraining costs one model's training time at export, and no results folder grows by
a network per run (a search trains thousands), and an export can never pair a network with
a spec it was not trained from.

``--best`` picks the search's best finalist: the candidate row of the verdict with the
highest validation score (a selection that reads no test row), and of its final runs the
one with the smallest seed (picking the best test seed would select on test rows).
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from symact.data.errors import DataError
from symact.data.missing import fill_values
from symact.experiments.datacache import DataCache, selection_rest, train_indices
from symact.experiments.specs import RunSpec
from symact.experiments.store import StoreError
from symact.export.model import ExportedModel, Preprocessing, feature_recipe
from symact.search.verdict import is_finalist

STORE_FILE = "symact.sqlite"
#: How far the retrained metric may be from the stored one: float32 sums over rows in
#: another order may move a probability in its last bit, never an AUC by more than this.
METRIC_TOLERANCE = 1e-6


@dataclass(frozen=True)
class ChosenRun:
    """A stored run: its key, spec, stored result and why it was chosen."""

    key: str
    spec: RunSpec
    result: dict[str, Any]
    reason: str


def _connect(results: Path) -> sqlite3.Connection:
    store = results / STORE_FILE
    if not store.is_file():
        raise StoreError(f"{results} holds no {STORE_FILE}; give --from a results folder")
    return sqlite3.connect(f"file:{store}?mode=ro", uri=True)


def _run(conn: sqlite3.Connection, key: str, reason: str) -> ChosenRun:
    rows = conn.execute(
        "SELECT key, spec, result FROM runs WHERE key LIKE ?", (f"{key}%",)
    ).fetchall()
    if len(rows) != 1:
        found = "no run" if not rows else f"{len(rows)} runs"
        raise StoreError(f"--run {key}: {found} with that key; give more of the key")
    k, spec, result = rows[0]
    result = json.loads(result)
    if result.get("failed"):
        raise StoreError(f"--run {key}: that run failed ({result.get('failure_reason')})")
    return ChosenRun(k, RunSpec.from_dict(json.loads(spec)), result, reason)


def choose_run(results: Path, *, run: str | None = None, best: bool = False) -> ChosenRun:
    """The run named by ``run`` (a key or a unique prefix) or, with ``best``, the search's
    best finalist (see the module docstring)."""
    if (run is None) == (not best):
        raise StoreError("give exactly one of --run KEY and --best")
    with _connect(results) as conn:
        if run is not None:
            return _run(conn, run, f"run {run} named on the command line")
        row = conn.execute("SELECT result FROM documents WHERE key = 'search'").fetchone()
        if row is None:
            raise StoreError(
                f"--best: {results} holds no search; name a run with --run KEY "
                "(results.json lists each run's key)"
            )
        entries = [
            e
            for e in json.loads(row[0])["entries"]
            if is_finalist(e["activation"]) and e["finals"] and e["val_score"] is not None
        ]
        if not entries:
            raise StoreError(f"--best: the search in {results} has no finalist with final runs")
        top = max(entries, key=lambda e: e["val_score"])
        seed, key = min(top["finals"])
        why = (
            f"best search finalist {top['activation']} ({top['formula']}) by validation "
            f"score {top['val_score']:.4f}; its final run with the smallest seed ({seed})"
        )
        return _run(conn, key, why)


def _fit_rows(n: int, spec: RunSpec) -> np.ndarray:
    """The rows the run's imputation and standardization were fitted on, as
    ``datacache.make_split`` draws them (checked against its output by the caller)."""
    from sklearn.model_selection import train_test_split

    split = spec.split
    if not split.validation and not split.selection:
        idx, _ = train_test_split(np.arange(n), test_size=split.test_size, random_state=split.seed)
        return idx
    part = train_indices(n, split)
    if not split.validation:
        return part[selection_rest(len(part), split)]
    if split.selection:
        part = part[selection_rest(len(part), split)]
    idx, _ = train_test_split(part, test_size=split.validation, random_state=split.seed)
    return idx


def raw_columns(source: str, spec: RunSpec) -> tuple[str, ...]:
    """The feature columns of a user's file as read (label and dropped columns left out)."""
    from symact.data.readers import read_frame

    frame, _ = read_frame(Path(source))
    label = spec.data.target if spec.data.target is not None else str(frame.columns[-1])
    return tuple(str(c) for c in frame.columns if str(c) != label and c not in spec.data.drop)


def retrain(chosen: ChosenRun, data_dir: str | None = None) -> ExportedModel:
    """The chosen run's network, retrained from its spec, with its preprocessing and card.
    DataError if the data is no longer the data it was trained on; StoreError if the
    retrained metric differs from the stored one."""
    from sklearn.preprocessing import StandardScaler

    from symact.training import TrainTask, train_stack

    spec = chosen.spec
    cache = DataCache(data_dir)
    ds = cache.dataset(spec.data)
    if spec.data.fingerprint is not None and ds.fingerprint != spec.data.fingerprint:
        raise DataError(
            f"{spec.data.name} now reads as data {ds.fingerprint}, but the run was trained on "
            f"{spec.data.fingerprint}: the file changed; export from the data it was run on"
        )
    split = cache.split(spec.data, spec.split)
    rows = _fit_rows(len(ds.y), spec)
    X_fit = np.asarray(ds.X[rows], dtype=np.float64)
    fill = fill_values(X_fit, ds.onehot_blocks)
    filled = np.where(np.isnan(X_fit), fill, X_fit)
    scaler = StandardScaler().fit(filled)
    if not np.array_equal(scaler.transform(filled).astype(np.float32), split.X_train):
        raise RuntimeError("the export's preprocessing differs from the run's split")
    task = TrainTask(
        split.X_train, split.y_train, split.X_test, split.y_test, spec.model, spec.seed
    )
    (outcome,) = train_stack([task], spec.train, "cpu", return_models=True)
    stored = {m: float(chosen.result.get(m, math.nan)) for m in ("auc", "accuracy")}
    again = {"auc": outcome.auc, "accuracy": outcome.accuracy}
    if any(not abs(again[m] - stored[m]) <= METRIC_TOLERANCE for m in stored):
        raise StoreError(
            f"run {chosen.key} retrained to AUC {again['auc']:.6f} / accuracy "
            f"{again['accuracy']:.6f}, but stored {stored['auc']:.6f} / "
            f"{stored['accuracy']:.6f}: this symact does not reproduce the stored run"
        )
    source = ds.provenance.source
    columns = (
        raw_columns(source, spec) if ds.provenance.label_column is not None else ds.feature_names
    )
    pre = Preprocessing(
        columns=tuple(columns),
        features=feature_recipe(ds.feature_names, columns),
        fill=tuple(float(v) for v in fill),
        mean=tuple(float(v) for v in scaler.mean_),
        scale=tuple(float(v) for v in scaler.scale_),
        ignored=tuple(c for c in (ds.provenance.label_column, *spec.data.drop) if c),
    )
    card = {
        "title": f"{spec.model.activation} on {ds.display_name}",
        "chosen": chosen.reason,
        "run_key": chosen.key,
        "data": {
            "name": ds.display_name,
            "source": source,
            "fingerprint": ds.fingerprint,
            "options": spec.data.to_dict(),
            "label_column": ds.provenance.label_column,
            "classes": list(ds.classes),
        },
        "formula": spec.model.activation,
        "learned_formulas": list(outcome.learned_formulas),
        "model": spec.model.to_dict(),
        "params": outcome.params,
        "seed": spec.seed,
        "split": spec.split.to_dict(),
        "train": spec.train.identity(),
        "scored_on": spec.split.scored_on,
        "metrics": {"stored": stored, "retrained": again},
        "preprocessing": (
            "raw columns -> numbers, one-hot text levels and missing-cell indicators; missing "
            "cells filled with the training rows' median (numbers) or most frequent level "
            "(text); standardized with the training rows' mean and standard deviation"
        ),
    }
    return ExportedModel(outcome.model, pre, tuple(ds.classes), card)

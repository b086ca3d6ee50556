"""Missing values: what loading does with them (``missing=``), and the imputer of each split.

Most real tables have some empty cells. ``missing`` says what symact does with them:

* ``"impute"`` (default): a missing feature cell stays NaN in ``Dataset.X`` and is filled
  on each split from that split's training rows only (:func:`impute`): the median of the
  column for numbers, the most frequent level for a text column (a text column is a one-hot
  block, NaN across the block where the cell is missing). Each column that had a missing
  cell also gets an indicator column (``"<column> missing"``: 1 where the cell was
  missing), made at load time: it reads no statistic of any row, only whether the cell
  was empty. A row whose *label* is missing is left out (a label cannot be imputed).
* ``"drop"``: rows with any missing cell (label included) are left out at load time.
* ``"refuse"``: a missing cell is a DataError naming the file, the column and the first
  row, as symact did before it imputed.

Fitting on the training rows only is what keeps a test row's value out of training: the
median a test cell receives is the training rows' median, never the median of all rows.
The loader writes a note per dataset saying which columns had how many missing cells.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from symact.data.errors import DataError, Option

MISSING_POLICIES = ("impute", "drop", "refuse")
_SHOWN_COLUMNS = 8


def checked_missing(policy: object) -> str:
    """``policy`` if it is one of :data:`MISSING_POLICIES`, else a DataError naming it."""
    if policy not in MISSING_POLICIES:
        raise DataError(
            Option("missing", value=policy),
            f" is not a missing-value policy; choose one of {', '.join(MISSING_POLICIES)}",
        )
    return str(policy)


def indicator_name(column: str) -> str:
    """The name of the 0/1 column that marks the rows where ``column`` was missing."""
    return f"{column} missing"


# --------------------------------------------------------------------------- at load time


def missing_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Missing cells per column, for the columns that have any (in column order)."""
    counts = frame.isna().sum()
    return {str(c): int(n) for c, n in counts.items() if n > 0}


def apply_missing_policy(
    frame: pd.DataFrame, label: str, policy: str, path: Path
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """``frame`` (features and the ``label`` column) as ``policy`` wants it, and notes.

    ``refuse`` raises on the first missing cell; ``drop`` leaves out every row with one;
    ``impute`` leaves out the rows whose label is missing and keeps the features' NaN for
    :func:`impute`. The notes say what was done, with counts per column.
    """
    counts = missing_counts(frame)
    if not counts:
        return frame, ()
    if policy == "refuse":
        raise _refusal(frame, counts, path)
    n = len(frame)
    if policy == "drop":
        kept = frame.dropna()
        _check_rows_left(kept, path)
        return kept, (
            f"dropped {n - len(kept):,} of {n:,} rows with a missing value (missing cells: "
            f"{_shown_counts(counts)})",
        )
    notes = []
    if label in counts:
        frame = frame[frame[label].notna()]
        _check_rows_left(frame, path)
        notes.append(
            f"dropped {counts.pop(label):,} of {n:,} rows whose label {label!r} is missing "
            "(a label cannot be imputed)"
        )
    if counts:
        cells = sum(counts.values())
        notes.append(
            f"{cells:,} missing cells in {len(counts)} column(s) of {len(frame):,} rows, "
            "filled on each split from its training rows (median for numbers, most frequent "
            f"level for text) with an indicator column each: {_shown_counts(counts)}"
        )
    return frame, tuple(notes)


def _refusal(frame: pd.DataFrame, counts: dict[str, int], path: Path) -> DataError:
    column = next(iter(counts))
    first = int(np.flatnonzero(frame[column].isna().to_numpy())[0])
    others = len(counts) - 1
    also = f"; {others} other column(s) have missing cells too" if others else ""
    return DataError(
        f"{path}: column {column!r} is missing in data row {first + 1} "
        f"({counts[column]:,} rows in all{also}); pass ",
        Option("missing", value="impute"),
        " to fill them from each split's training rows, or ",
        Option("missing", value="drop"),
        " to leave those rows out",
    )


def _check_rows_left(frame: pd.DataFrame, path: Path) -> None:
    if len(frame) == 0:
        raise DataError(
            f"every row of {path} has a missing value; leave the emptiest columns out with ",
            Option("drop", placeholder="<columns>"),
            ", or pass ",
            Option("missing", value="impute"),
        )


def _shown_counts(counts: dict[str, int]) -> str:
    items = list(counts.items())
    shown = ", ".join(f"{c!r} {n:,}" for c, n in items[:_SHOWN_COLUMNS])
    more = f", and {len(items) - _SHOWN_COLUMNS} more" if len(items) > _SHOWN_COLUMNS else ""
    return shown + more


# --------------------------------------------------------------------------- per split


def fill_values(X_fit: np.ndarray, onehot_blocks: Sequence[Sequence[int]] = ()) -> np.ndarray:
    """The value each column's missing cells get, read from the rows ``X_fit`` only.

    A column's value is the median of its present values in ``X_fit``; the columns of one
    one-hot block (a text column) get the block's most frequent level in ``X_fit``: 1 in
    its column, 0 in the others (ties go to the first level, levels being sorted). A column
    or block with no present value in ``X_fit`` gets 0 (so does every level of that block).
    """
    X = np.asarray(X_fit, dtype=np.float64)
    fill = np.zeros(X.shape[1])
    seen = ~np.isnan(X).all(axis=0)
    if seen.any():
        with warnings.catch_warnings():  # an all-NaN column is excluded above
            warnings.simplefilter("ignore", RuntimeWarning)
            fill[seen] = np.nanmedian(X[:, seen], axis=0)
    for block in onehot_blocks:
        cols = list(block)
        counts = np.nansum(X[:, cols], axis=0)
        fill[cols] = 0.0
        if counts.max(initial=0.0) > 0:
            fill[cols[int(np.argmax(counts))]] = 1.0
    return fill


def impute(
    X_fit: np.ndarray, *others: np.ndarray, onehot_blocks: Sequence[Sequence[int]] = ()
) -> tuple[np.ndarray, ...]:
    """``X_fit`` and each of ``others`` with their NaN cells filled by ``X_fit``'s values
    (:func:`fill_values`), as float64. Arrays without a NaN come back as they are, so a
    dataset with no missing cell goes through the protocol unchanged."""
    arrays = (X_fit, *others)
    if not any(np.isnan(a).any() for a in arrays):
        return arrays
    fill = fill_values(X_fit, onehot_blocks)
    return tuple(_filled(a, fill) for a in arrays)


def _filled(X: np.ndarray, fill: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return np.where(np.isnan(X), fill, X)

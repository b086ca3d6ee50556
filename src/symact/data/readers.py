"""Turning files into validated ``(X, y)`` arrays: UCI files, sklearn's bundled sets, user files.

Validation happens here, once, where data enters symact; everything downstream trusts the
arrays. Every problem becomes a :class:`DataError` that names the file, the column or the
row and says what to do, never a traceback from inside pandas or numpy.

User files (CSV or Parquet), documented handling:

* **Format**: ``.parquet``/``.pq`` files are Parquet (needs pyarrow); ``.tsv`` files are
  tab-separated; anything else is read as comma-separated (``.gz`` etc. decompressed).
* **Header**: Parquet always has column names. A CSV's first row is a header when some
  column is numeric in the rows below it but not in the first row, or when every value of
  the first row is non-numeric and none of them reappears below it in its column.
  Without a header, columns are named ``col0``, ``col1``, ...
* **Target**: ``target`` is a column name or an integer position (negative counts from the
  end); by default the LAST column is the label.
* **Labels**: 0/1 (or true/false) labels are used as they are. Otherwise ``positive`` names
  the class that becomes 1 and every other class becomes 0 (one-vs-rest); with string labels
  or more than two classes and no ``positive``, a DataError lists the classes found.
* **Features**: numeric columns are used as float32. Boolean columns become 0/1.
  Non-numeric columns with at most ``MAX_ONEHOT_LEVELS`` distinct values are one-hot encoded
  (``column=level``, levels sorted); with more levels, a DataError names the column.
* **Missing values** (empty cells, NA, NaN) in any used column: a DataError naming each such
  column and how many rows miss it. symact does not impute; drop or fill them first.
  Infinite values are refused the same way.
* **Constant columns** carry no information and break standardisation: they are dropped,
  and each drop is recorded in the provenance notes. If no column is left, a DataError.
* **Too few rows**: fewer than ``MIN_ROWS`` rows, or fewer than ``MIN_PER_CLASS`` rows of
  either class (a stratified-free 80/20 split could then miss a class), is a DataError.
"""

from __future__ import annotations

import csv
import importlib
from pathlib import Path

import numpy as np
import pandas as pd

from symact.data.errors import DataError
from symact.data.registry import DatasetInfo

MAX_ONEHOT_LEVELS = 20
MIN_ROWS = 10
MIN_PER_CLASS = 2
_SNIFF_ROWS = 50
_TRUE_WORDS = {"1", "1.0", "true"}
_FALSE_WORDS = {"0", "0.0", "false"}


# --------------------------------------------------------------------------- UCI files


def read_uci_table(
    path: Path,
    info: DatasetInfo,
    *,
    nrows: int | None = None,
    compressed: bool | None = None,
    shown_as: str | None = None,
) -> np.ndarray:
    """Read ``nrows`` rows (all if None) of a UCI file, checked against ``info``'s layout.

    ``compressed`` overrides the guess from the file name and ``shown_as`` the name used in
    messages, both for temporary download files.
    Returns a float32 table of ``info.n_columns`` columns whose label column holds only
    ``info.valid_labels``.
    """
    if compressed is None:
        compressed = path.name.endswith(".gz")
    hint = (
        f"{shown_as or path} is not a valid copy of the UCI file {info.filename}; delete it "
        "so that symact downloads it again, or replace it with the UCI file"
    )
    try:
        frame = pd.read_csv(
            path,
            header=None,
            nrows=nrows,
            dtype=np.float32,
            compression="gzip" if compressed else None,
            engine="c",
        )
    except FileNotFoundError:
        raise DataError(f"file not found: {path}") from None
    except (ValueError, EOFError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{hint} ({type(exc).__name__}: {_short(exc)})") from None
    table = frame.to_numpy()
    if table.shape[1] != info.n_columns:
        raise DataError(f"{hint}: it has {table.shape[1]} columns, expected {info.n_columns}")
    if table.shape[0] == 0:
        raise DataError(f"{hint}: it has no rows")
    bad_rows = np.flatnonzero(~np.isfinite(table).all(axis=1))
    if bad_rows.size:
        raise DataError(
            f"{hint}: {bad_rows.size} rows have missing or non-finite values "
            f"(first at data row {bad_rows[0] + 1})"
        )
    labels = table[:, info.label_column]
    unexpected = np.setdiff1d(np.unique(labels), np.asarray(info.valid_labels, np.float32))
    if unexpected.size:
        raise DataError(
            f"{hint}: label column {info.label_column} holds {unexpected[:5].tolist()}, "
            f"expected only {list(info.valid_labels)}"
        )
    return table


def split_uci_table(table: np.ndarray, info: DatasetInfo) -> tuple[np.ndarray, np.ndarray]:
    """Features (float32) and the binary label (int64) of a table from ``read_uci_table``."""
    col = info.label_column % table.shape[1]
    y = (table[:, col] == info.positive_value).astype(np.int64)
    X = np.ascontiguousarray(np.delete(table, col, axis=1), dtype=np.float32)
    return X, y


# --------------------------------------------------------------------------- sklearn


def load_sklearn(info: DatasetInfo) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """A dataset bundled with scikit-learn (no network), made binary by ``info``'s rule."""
    assert info.sklearn_loader is not None
    datasets = importlib.import_module("sklearn.datasets")
    bunch = getattr(datasets, info.sklearn_loader)()
    X = np.ascontiguousarray(bunch.data, dtype=np.float32)
    y = np.isin(bunch.target, info.sklearn_positive).astype(np.int64)
    names = tuple(str(n) for n in bunch.feature_names)
    return X, y, names


# --------------------------------------------------------------------------- user files


def read_user_file(
    path: Path, *, target: str | int | None = None, positive: object = None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """A user's CSV or Parquet file as ``(X, y, feature_names, notes)``; see module docstring."""
    frame = _read_frame(path)
    if frame.shape[1] < 2:
        raise DataError(
            f"{path} has {frame.shape[1]} column(s); need at least one feature and a label "
            "(is the delimiter a comma?)"
        )
    label_name = _resolve_target(frame, target, path)
    y = _binary_labels(frame[label_name], positive, label_name, path)
    features = frame.drop(columns=[label_name])
    _check_missing(features, path)
    X, names, notes = _encode_features(features, path)
    check_enough_rows(y, str(path))
    return X, y, names, notes


def _read_frame(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(
            f"file not found: {path}. Pass a registry name (see `symact datasets`) or the "
            "path of an existing CSV or Parquet file"
        )
    if path.is_dir():
        raise DataError(f"{path} is a folder; pass the path of a CSV or Parquet file")
    suffixes = [s.lower() for s in path.suffixes]
    try:
        if ".parquet" in suffixes or ".pq" in suffixes:
            return pd.read_parquet(path)
        sep = "\t" if ".tsv" in suffixes else ","
        header = 0 if _csv_has_header(path, sep) else None
        frame = pd.read_csv(path, sep=sep, header=header, engine="c", skipinitialspace=True)
    except DataError:
        raise
    except ImportError as exc:
        raise DataError(f"reading {path} needs pyarrow: pip install pyarrow ({exc})") from None
    except (ValueError, OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"could not read {path} as CSV/Parquet: {_short(exc)}") from None
    if header is None:
        frame.columns = [f"col{i}" for i in range(frame.shape[1])]
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _csv_has_header(path: Path, sep: str) -> bool:
    """The header rule of the module docstring, applied to the first rows of the file."""
    try:
        sample = pd.read_csv(
            path,
            sep=sep,
            header=None,
            nrows=_SNIFF_ROWS,
            dtype=str,
            keep_default_na=False,
            engine="c",
            skipinitialspace=True,
            quoting=csv.QUOTE_MINIMAL,
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty") from None
    if len(sample) < 2:
        return False
    first, rest = sample.iloc[0], sample.iloc[1:]
    first_numeric = [_is_number(v) for v in first]
    for col, is_num in zip(sample.columns, first_numeric, strict=True):
        below = rest[col]
        if not is_num and below.map(_is_number).all() and (below != "").all():
            return True
    if not any(first_numeric):
        return all(first[col] not in set(rest[col]) for col in sample.columns)
    return False


def _is_number(text: str) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def _resolve_target(frame: pd.DataFrame, target: str | int | None, path: Path) -> str:
    columns = list(frame.columns)
    if target is None:
        return columns[-1]
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if -len(columns) <= int(target) < len(columns):
            return columns[int(target)]
        raise DataError(f"target={target} is out of range: {path} has {len(columns)} columns")
    if str(target) in columns:
        return str(target)
    shown = ", ".join(columns[:20]) + (" ..." if len(columns) > 20 else "")
    raise DataError(f"target column {target!r} not found in {path}; its columns are: {shown}")


def _binary_labels(labels: pd.Series, positive: object, name: str, path: Path) -> np.ndarray:
    missing = int(labels.isna().sum())
    if missing:
        raise DataError(
            f"label column {name!r} of {path} is missing in {missing} rows; "
            "drop those rows or fill them first"
        )
    text = labels.astype(str).str.strip()
    classes = sorted(set(text))
    if positive is not None:
        return _one_vs_rest(labels, text, classes, positive, name, path)
    lowered = {c.lower() for c in classes}
    if len(classes) == 2 and lowered <= _TRUE_WORDS | _FALSE_WORDS and _is_01(lowered):
        return text.str.lower().isin(_TRUE_WORDS).to_numpy().astype(np.int64)
    shown = ", ".join(repr(c) for c in classes[:10]) + (" ..." if len(classes) > 10 else "")
    if len(classes) < 2:
        raise DataError(
            f"label column {name!r} of {path} has a single class ({shown}); a binary task needs two"
        )
    if len(classes) > 2:
        raise DataError(
            f"label column {name!r} of {path} has {len(classes)} classes ({shown}); "
            f"pass positive=<class> to make it binary (that class -> 1, the rest -> 0), "
            "or target=<column> if this is not the label"
        )
    raise DataError(
        f"label column {name!r} of {path} has classes {shown}, not 0/1; "
        f"pass positive=<class> to say which becomes 1, e.g. positive={classes[-1]!r}"
    )


def _is_01(lowered: set[str]) -> bool:
    return bool(lowered & _TRUE_WORDS) and bool(lowered & _FALSE_WORDS)


def _one_vs_rest(
    labels: pd.Series, text: pd.Series, classes: list[str], positive: object, name: str, path: Path
) -> np.ndarray:
    hit = text == str(positive).strip()
    if not hit.any() and pd.api.types.is_numeric_dtype(labels) and _is_number(str(positive)):
        hit = labels.astype(float) == float(str(positive))
    if not hit.any():
        shown = ", ".join(repr(c) for c in classes[:10]) + (" ..." if len(classes) > 10 else "")
        raise DataError(
            f"positive={positive!r} is not a class of label column {name!r} in {path}; "
            f"classes found: {shown}"
        )
    if hit.all():
        raise DataError(f"every row of {path} has label {positive!r}; a binary task needs two")
    return hit.to_numpy().astype(np.int64)


def _check_missing(features: pd.DataFrame, path: Path) -> None:
    counts = features.isna().sum()
    counts = counts[counts > 0]
    if len(counts):
        detail = ", ".join(f"{col!r}: {n} rows" for col, n in counts.items())
        raise DataError(
            f"{path} has missing values in feature columns ({detail}); symact does not "
            "impute: drop those rows or columns, or fill them, and load the file again"
        )


def _encode_features(
    features: pd.DataFrame, path: Path
) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
    blocks: list[np.ndarray] = []
    names: list[str] = []
    notes: list[str] = []
    for col in features.columns:
        series = features[col]
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            values = series.to_numpy(dtype=np.float64)[:, None]
            col_names = [col]
        else:
            levels = sorted(set(series.astype(str)))
            if len(levels) > MAX_ONEHOT_LEVELS:
                example = ", ".join(repr(v) for v in levels[:3])
                raise DataError(
                    f"feature column {col!r} of {path} is not numeric and has {len(levels)} "
                    f"distinct values (e.g. {example}); symact one-hot encodes at most "
                    f"{MAX_ONEHOT_LEVELS} levels. Convert it to numbers or drop it"
                )
            text = series.astype(str).to_numpy()
            values = np.stack([(text == lv) for lv in levels], axis=1).astype(np.float64)
            col_names = [f"{col}={lv}" for lv in levels]
            notes.append(f"one-hot encoded column {col!r} into {len(levels)} columns")
        if not np.isfinite(values).all():
            n_bad = int((~np.isfinite(values)).any(axis=1).sum())
            raise DataError(
                f"feature column {col!r} of {path} has infinite values in {n_bad} rows; "
                "replace or drop them"
            )
        for j, name in enumerate(col_names):
            if np.ptp(values[:, j]) == 0:
                notes.append(f"dropped constant column {name!r}")
                continue
            blocks.append(values[:, j])
            names.append(name)
    if not blocks:
        raise DataError(f"{path} has no non-constant feature column; nothing to learn from")
    X = np.ascontiguousarray(np.stack(blocks, axis=1), dtype=np.float32)
    return X, tuple(names), tuple(notes)


def check_enough_rows(y: np.ndarray, source: str) -> None:
    """Refuse label vectors too short or too one-sided to train and test on."""
    if len(y) < MIN_ROWS:
        raise DataError(f"{source} has {len(y)} rows; at least {MIN_ROWS} are needed to split")
    positives = int(y.sum())
    smallest = min(positives, len(y) - positives)
    if smallest < MIN_PER_CLASS:
        raise DataError(
            f"{source} has only {smallest} row(s) of one class ({positives} positive of "
            f"{len(y)}); at least {MIN_PER_CLASS} of each class are needed to train and test"
        )


def _short(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:limit]

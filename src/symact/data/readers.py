"""Turning files into validated ``(X, y)`` arrays: UCI files, sklearn's bundled sets, user files.

Validation happens here, once, where data enters symact; everything downstream trusts the
arrays. Every problem becomes a :class:`DataError` that names the file, the column or the
row and says what to do, never a traceback from inside pandas or numpy.

User files (CSV or Parquet), documented handling:

* **Format**: ``.parquet``/``.pq`` files are Parquet (needs pyarrow); ``.tsv`` files are
  tab-separated. Any other file is text (``.gz``, ``.bz2``, ``.xz`` decompressed) whose
  delimiter is sniffed from its first rows: tab, semicolon or ``|`` where every sampled
  row splits into the same number (> 1) of fields on it, else a comma. With a delimiter
  other than the comma, numbers written with a decimal comma (``0,25``, and no ``0.25``
  in the sample) are read as such. Both are recorded in the provenance notes.
* **Header**: Parquet always has column names. A CSV's first row is a header when some
  column is numeric in the rows below it but not in the first row, or when every value of
  the first row is non-numeric and none of them reappears below it in its column (a file
  of one line is a header when none of its values is a number). Without a header, columns
  are named ``col0``, ``col1``, ... A file with a header and no rows below it is refused
  ("no data rows").
* **Drop**: ``drop`` names columns to leave out before anything else looks at them (an
  identifier, free text); a name that is not a column is a DataError listing the columns.
* **Target**: ``target`` is a column name or, where no column has that name, a 0-based
  position among the file's columns (an int, or its text such as ``"3"``; negative counts
  from the end). By default the label is the LAST column that is not dropped. A target that
  is also dropped is a DataError.
* **Labels**: ``labels="binary"`` (default) or ``"all"``; see :mod:`symact.data.labels`.
* **Features**: numeric columns are used as float32. Boolean columns become 0/1.
  Non-numeric columns with at most ``MAX_ONEHOT_LEVELS`` distinct values are one-hot encoded
  (``column=level``, levels sorted); with more levels, a DataError names the column and
  says to drop it or convert it to numbers.
* **Missing values** (empty cells, NA, NaN): ``missing="impute"`` (default) keeps them as
  NaN, filled on each split from its training rows, with an indicator column per column
  that had any; ``"drop"`` leaves out their rows; ``"refuse"`` is a DataError naming the
  column and the first row (see :mod:`symact.data.missing`).
  Infinite values, and finite values beyond float32's range (|v| > 3.4e38, which float32
  would turn into infinities), are a DataError naming the column.
* **Constant columns** carry no information and break standardisation: they are dropped,
  and each drop is recorded in the provenance notes (a column is constant when its present
  values are; its indicator column, if any, stays). If no column is left, a DataError.
* **Too few rows**: fewer than ``MIN_ROWS`` rows, or fewer than ``MIN_PER_CLASS`` rows of
  any class (an unstratified 80/20 split could then miss a class), is a DataError.
"""

from __future__ import annotations

import csv
import importlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from symact.data.errors import DataError, Option
from symact.data.labels import FILE_BINARY, check_enough_rows, file_labels, value_text
from symact.data.missing import apply_missing_policy, indicator_name
from symact.data.registry import DatasetInfo

MAX_ONEHOT_LEVELS = 20
#: Largest magnitude a feature may have: float32's, since symact trains in float32.
FLOAT32_MAX = float(np.finfo(np.float32).max)
_SNIFF_ROWS = 50
_SHOWN_COLUMNS = 20
_POSITION = re.compile(r"-?[0-9]+")


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


def split_uci_table(
    table: np.ndarray, info: DatasetInfo, labels: str = "binary"
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Features (float32), labels (int64) and class names of a table from ``read_uci_table``.

    ``"binary"``: 1 where the label is ``info.positive_value``, classes ``info.class_names``.
    ``"all"``: the index of the label in ``info.valid_labels``, classes their values as text.
    """
    col = info.label_column % table.shape[1]
    raw = table[:, col]
    if labels == "all":
        values = np.asarray(info.valid_labels, dtype=np.float32)
        y = np.searchsorted(values, raw).astype(np.int64)  # read_uci_table checked membership
        classes = tuple(value_text(v) for v in info.valid_labels)
    else:
        y = (raw == info.positive_value).astype(np.int64)
        classes = info.class_names
    X = np.ascontiguousarray(np.delete(table, col, axis=1), dtype=np.float32)
    return X, y, classes


# --------------------------------------------------------------------------- sklearn


def load_sklearn(
    info: DatasetInfo, labels: str = "binary"
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """A dataset bundled with scikit-learn (no network): ``(X, y, feature_names, classes)``.

    ``"binary"`` applies ``info``'s rule; ``"all"`` keeps sklearn's targets and class names.
    """
    assert info.sklearn_loader is not None
    datasets = importlib.import_module("sklearn.datasets")
    bunch = getattr(datasets, info.sklearn_loader)()
    X = np.ascontiguousarray(bunch.data, dtype=np.float32)
    if labels == "all":
        y = np.asarray(bunch.target, dtype=np.int64)
        classes = tuple(str(n) for n in bunch.target_names)
    else:
        y = np.isin(bunch.target, info.sklearn_positive).astype(np.int64)
        classes = info.class_names
    names = tuple(str(n) for n in bunch.feature_names)
    return X, y, names, classes


# --------------------------------------------------------------------------- user files


@dataclass(frozen=True, eq=False)
class UserTable:
    """A user's file as validated arrays: what :func:`read_user_file` returns.

    ``X`` holds NaN where a cell is missing (``missing="impute"``); ``onehot_blocks`` lists
    the columns of each text column that has missing cells (NaN across the block there),
    so that :func:`symact.data.missing.impute` fills them with one level.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    classes: tuple[str, ...]
    label_column: str
    notes: tuple[str, ...]
    onehot_blocks: tuple[tuple[int, ...], ...] = ()


def read_user_file(
    path: Path,
    *,
    target: str | int | None = None,
    positive: object = None,
    drop: Sequence[str] = (),
    labels: str = "binary",
    missing: str = "impute",
) -> UserTable:
    """A user's CSV or Parquet file as validated arrays; see the module docstring."""
    frame, read_notes = read_frame(path)
    label_name = _resolve_target(frame, target, drop, path)
    frame = _drop_columns(frame, drop, path)
    if frame.shape[1] < 2:
        raise DataError(
            f"{path} has {frame.shape[1]} column(s) to use; need at least one feature and a "
            "label (is the delimiter a comma?)"
        )
    frame, missing_notes = apply_missing_policy(frame, label_name, missing, path)
    y, classes = file_labels(
        frame[label_name], positive=positive, mode=labels, name=label_name, path=path
    )
    features = frame.drop(columns=[label_name])
    X, names, notes, blocks = _encode_features(features, path)
    check_enough_rows(y, classes, str(path), binary_hint=FILE_BINARY)
    return UserTable(X, y, names, classes, label_name, read_notes + missing_notes + notes, blocks)


@dataclass(frozen=True)
class TextDialect:
    """How a text table is written: its delimiter and its decimal mark."""

    sep: str = ","
    decimal: str = "."

    @property
    def note(self) -> str | None:
        """What a provenance note says of it; None for the plain comma-separated file."""
        if (self.sep, self.decimal) == (",", "."):
            return None
        name = _DELIMITER_NAMES[self.sep]
        comma = " with decimal commas" if self.decimal == "," else ""
        return f"read as {name}-separated{comma}"


#: Delimiters sniffed, in order of precedence where several split every row alike (a
#: semicolon that does so is the delimiter and the commas are decimal commas).
_DELIMITER_NAMES = {"\t": "tab", ";": "semicolon", "|": "|", ",": "comma"}
_DECIMAL_COMMA = re.compile(r"[-+]?\d*,\d+")
_DECIMAL_POINT = re.compile(r"[-+]?\d*\.\d+(?:[eE][-+]?\d+)?")


def sniff_dialect(lines: Sequence[str]) -> TextDialect:
    """The delimiter and decimal mark of a text table, from its first lines (pure).

    A delimiter qualifies when every line splits (quotes respected) into the same number
    of fields, more than one; the first qualifying in ``_DELIMITER_NAMES`` wins, a comma
    when none does. Decimal commas are recognised only beside another delimiter."""
    rows = [line for line in lines if line.strip()]
    sep = ","
    for candidate in _DELIMITER_NAMES:
        counts = {len(fields) for fields in csv.reader(rows, delimiter=candidate)}
        if len(counts) == 1 and counts.pop() > 1:
            sep = candidate
            break
    if sep == ",":
        return TextDialect()
    cells = [c.strip() for fields in csv.reader(rows, delimiter=sep) for c in fields]
    commas = any(_DECIMAL_COMMA.fullmatch(c) for c in cells)
    points = any(_DECIMAL_POINT.fullmatch(c) for c in cells)
    return TextDialect(sep, "," if commas and not points else ".")


def _first_lines(path: Path, n: int) -> list[str]:
    """The first ``n`` lines of a text file, decompressed by its suffix as pandas would."""
    import bz2
    import gzip
    import lzma

    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix.lower(), open)
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        lines = []
        for line in f:
            lines.append(line.rstrip("\r\n"))
            if len(lines) == n:
                break
    return lines


def read_frame(path: Path) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The file as a frame, with the notes on how it was read."""
    if not path.exists():
        raise DataError(
            f"file not found: {path}. Pass a registry name (see `symact datasets`) or the "
            "path of an existing CSV or Parquet file"
        )
    if path.is_dir():
        raise DataError(f"{path} is a folder; pass the path of a CSV or Parquet file")
    suffixes = [s.lower() for s in path.suffixes]
    try:
        dialect = TextDialect()
        if ".parquet" in suffixes or ".pq" in suffixes:
            frame = pd.read_parquet(path)
            header = True
        else:
            if ".tsv" in suffixes:
                dialect = TextDialect("\t")
            elif ".zip" not in suffixes:
                dialect = sniff_dialect(_first_lines(path, _SNIFF_ROWS))
            header = _csv_has_header(path, dialect)
            frame = pd.read_csv(
                path,
                sep=dialect.sep,
                decimal=dialect.decimal,
                header=0 if header else None,
                engine="c",
                skipinitialspace=True,
            )
    except DataError:
        raise
    except ImportError as exc:
        raise DataError(f"reading {path} needs pyarrow: pip install pyarrow ({exc})") from None
    except (ValueError, OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(
            f"could not read {path} as CSV/Parquet ({_short(exc)}); symact read it as "
            f"{_DELIMITER_NAMES[dialect.sep]}-separated with decimal {dialect.decimal!r}, "
            "sniffed from its first rows: give every row the same number of fields, "
            "separated by commas, semicolons or tabs"
        ) from None
    if not header:
        frame.columns = [f"col{i}" for i in range(frame.shape[1])]
    frame.columns = [str(c) for c in frame.columns]
    if len(frame) == 0:
        raise DataError(
            f"{path} has no data rows"
            + (f" (only column names: {_shown_columns(list(frame.columns))})" if header else "")
            + "; a dataset needs rows of values below its header"
        )
    return frame, (dialect.note,) if dialect.note else ()


def _csv_has_header(path: Path, dialect: TextDialect) -> bool:
    """The header rule of the module docstring, applied to the first rows of the file."""
    try:
        sample = pd.read_csv(
            path,
            sep=dialect.sep,
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
    if dialect.decimal != ".":
        sample = sample.map(lambda v: v.replace(dialect.decimal, "."))
    first, rest = sample.iloc[0], sample.iloc[1:]
    first_numeric = [_is_number(v) for v in first]
    if len(rest) == 0:  # a single line: a header (of an empty file) unless it holds numbers
        return not any(first_numeric)
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


def _shown_columns(columns: list[str]) -> str:
    more = " ..." if len(columns) > _SHOWN_COLUMNS else ""
    return ", ".join(columns[:_SHOWN_COLUMNS]) + more


def _drop_list(drop: Sequence[str] | str) -> list[str]:
    return [drop] if isinstance(drop, str) else [str(d) for d in drop]


def _drop_columns(frame: pd.DataFrame, drop: Sequence[str] | str, path: Path) -> pd.DataFrame:
    names = _drop_list(drop)
    unknown = [d for d in names if d not in frame.columns]
    if unknown:
        raise DataError(
            Option("drop", value=names),
            f": {path} has no column {unknown[0]!r}; its columns are: "
            f"{_shown_columns(list(frame.columns))}",
        )
    return frame.drop(columns=names)


def _resolve_target(
    frame: pd.DataFrame, target: str | int | None, drop: Sequence[str] | str, path: Path
) -> str:
    """The label column's name: ``target`` as a name, else as a position; default the last.

    Positions count the file's columns, dropped ones included (what a user counts when
    looking at the file); the label may not be a dropped column.
    """
    columns = list(frame.columns)
    dropped = set(_drop_list(drop))
    if target is None:
        kept = [c for c in columns if c not in dropped]
        return kept[-1] if kept else columns[-1]
    name = _target_name(columns, target, path)
    if name in dropped:
        raise DataError(
            Option("target", value=target),
            f" names column {name!r} of {path}, which is also listed in ",
            Option("drop", value=_drop_list(drop)),
            "; the label cannot be dropped",
        )
    return name


def _target_name(columns: list[str], target: str | int, path: Path) -> str:
    if str(target) in columns:
        return str(target)
    is_int = isinstance(target, (int, np.integer)) and not isinstance(target, bool)
    if is_int or (isinstance(target, str) and _POSITION.fullmatch(target.strip())):
        position = int(target)
        if -len(columns) <= position < len(columns):
            return columns[position]
        raise DataError(
            Option("target", value=target),
            f" is out of range: {path} has {len(columns)} columns (positions 0 to "
            f"{len(columns) - 1}, or -1 for the last)",
        )
    raise DataError(
        f"target column {target!r} not found in {path}; its columns are: "
        f"{_shown_columns(columns)}. Pass ",
        Option("target", placeholder="<column name or 0-based position>"),
    )


def _encode_features(
    features: pd.DataFrame, path: Path
) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...], tuple[tuple[int, ...], ...]]:
    """Features as float32 columns (NaN where missing), their names, notes, and the one-hot
    blocks of text columns with missing cells (see ``UserTable``)."""
    blocks: list[np.ndarray] = []
    names: list[str] = []
    notes: list[str] = []
    onehot: list[tuple[int, ...]] = []
    for col in features.columns:
        series = features[col]
        absent = series.isna().to_numpy()
        if absent.all():
            notes.append(f"dropped column {col!r}: every cell is missing")
            continue
        values, col_names, note = _column_values(series, col, path)
        if note:
            notes.append(note)
        kept = []
        for j, name in enumerate(col_names):
            if _is_constant(values[:, j]):
                notes.append(f"dropped constant column {name!r}")
                continue
            kept.append(len(blocks))
            blocks.append(values[:, j])
            names.append(name)
        if absent.any():
            if kept and not _is_numeric(series):
                onehot.append(tuple(kept))
            blocks.append(absent.astype(np.float64))
            names.append(indicator_name(col))
    if not blocks:
        raise DataError(f"{path} has no non-constant feature column; nothing to learn from")
    X = np.ascontiguousarray(np.stack(blocks, axis=1), dtype=np.float32)
    return X, tuple(names), tuple(notes), tuple(onehot)


def _is_constant(values: np.ndarray) -> bool:
    """True when the present (non-NaN) values of a column are all equal."""
    present = values[~np.isnan(values)]
    return present.size == 0 or bool(np.ptp(present) == 0)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series)


def _column_values(
    series: pd.Series, col: str, path: Path
) -> tuple[np.ndarray, list[str], str | None]:
    """One feature column as float64 columns (one-hot for text), checked to fit float32.
    A missing cell is NaN (across the whole one-hot block for text)."""
    if _is_numeric(series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)[:, None]
        _check_magnitudes(values, col, path)
        return values, [col], None
    present = series.notna().to_numpy()
    levels = sorted(set(series[present].astype(str)))
    if len(levels) > MAX_ONEHOT_LEVELS:
        numeric = pd.to_numeric(series, errors="coerce")
        odd = (numeric.isna() & series.notna()).to_numpy()
        if odd.any() and odd.mean() < 0.5:  # numbers with a few stray texts: name one
            i = int(np.flatnonzero(odd)[0])
            row = int(series.index[i]) + 1  # the file's row: rows may have been dropped
            raise DataError(
                f"feature column {col!r} of {path} holds numbers except {int(odd.sum())} "
                f"value(s) such as {series.iloc[i]!r} in data row {row}; correct them, or "
                "leave the column out with ",
                Option("drop", value=[col]),
            )
        example = ", ".join(repr(v) for v in levels[:3])
        raise DataError(
            f"feature column {col!r} of {path} is not numeric and has {len(levels)} distinct "
            f"values (e.g. {example}); symact one-hot encodes at most {MAX_ONEHOT_LEVELS} "
            "levels. Convert it to numbers, or leave it out with ",
            Option("drop", value=[col]),
        )
    text = series.astype(str).to_numpy()
    values = np.stack([(text == lv) for lv in levels], axis=1).astype(np.float64)
    values[~present] = np.nan
    names = [f"{col}={lv}" for lv in levels]
    return values, names, f"one-hot encoded column {col!r} into {len(levels)} columns"


def _check_magnitudes(values: np.ndarray, col: str, path: Path) -> None:
    """Refuse infinities, and finite values float32 cannot hold (they would become inf)."""
    infinite = np.isinf(values)
    if infinite.any():
        raise DataError(
            f"feature column {col!r} of {path} has infinite values in "
            f"{int(infinite.any(axis=1).sum())} rows; replace them, or leave the column out "
            "with ",
            Option("drop", value=[col]),
        )
    huge = np.abs(values) > FLOAT32_MAX
    if huge.any():
        rows = np.flatnonzero(huge.any(axis=1))
        raise DataError(
            f"feature column {col!r} of {path} has values beyond float32's range "
            f"(|value| > {FLOAT32_MAX:.3g}) in {rows.size} rows (first: data row "
            f"{rows[0] + 1}, {values[rows[0], 0]:.3g}); symact trains in float32, where they "
            "would become infinite. Rescale the column (e.g. take its log), or leave it out "
            "with ",
            Option("drop", value=[col]),
        )


def _short(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:limit]

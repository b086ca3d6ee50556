"""``load_dataset``: one entry point from a name or a path to a validated ``Dataset``.

A registry name is served from the data folder when its file is there (no network at all),
else downloaded once, verified and cached (see ``download``); sklearn's bundled datasets
never touch the network; any other argument is a user's CSV/Parquet file (see
``readers``). Row selection follows the registry: a prefix for ``"first"`` datasets (HIGGS)
and otherwise a seeded random subset, ``np.random.RandomState(seed).choice(n, rows,
replace=False)``, which is the paper's draw with its seed made explicit. Every result
carries a :class:`DataProvenance` saying which file, how many rows and which seed, and
whether the file is the full UCI file.

**Full copy or subset.** The registry knows the full UCI file's row count and, for
spambase, its sha256. A file with exactly that many rows claims to be the UCI file and must
have its sha256 (else a DataError); a file with another row count is a subset, read as such
and marked ``full_copy=False`` with a note saying so (its sha256 is recorded). So a slice
(the test suite's, a user's own subset) loads through the registry, and is never taken for
the full UCI file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from symact.data.cache import cached_prefixes, file_sha256, find_cached
from symact.data.checks import checked_rows, checked_seed
from symact.data.download import fetch_file, fetch_prefix
from symact.data.errors import DataError, Option
from symact.data.labels import (
    FILE_BINARY,
    REGISTRY_BINARY,
    check_enough_rows,
    checked_labels_mode,
)
from symact.data.missing import checked_missing
from symact.data.openml import fetch_openml_table, is_openml, openml_label
from symact.data.readers import (
    load_sklearn,
    read_uci_table,
    read_user_file,
    split_uci_table,
)
from symact.data.registry import (
    REGISTRY,
    DatasetInfo,
    data_home,
    file_url,
    get_info,
    resolve_name,
)

_USER_SUFFIXES = {".csv", ".parquet", ".pq", ".gz", ".txt", ".data", ".tsv"}
_HASH_LIMIT_BYTES = (
    256 << 20
)  # hash whole files up to this size; HIGGS (2.6 GB) is read as a prefix


@dataclass(frozen=True)
class DataProvenance:
    """Where a dataset's rows came from.

    ``rows_read`` counts the rows parsed from ``source``; ``rows_available`` is the
    source's total when known (None for a streamed prefix); ``subset_seed`` is set when a
    random subset was drawn; ``sha256`` is the source file's digest when it was computed.
    ``full_copy`` is True only when that digest is the registry's digest of the full UCI
    file, False when the file is known not to be the full dataset (another row count, or a
    prefix shorter than the dataset), None when it was not or could not be checked (user
    files, sklearn's bundled sets, a prefix read from a longer file). ``label_column`` is
    the label's column name in a user file (None for registry datasets: see the rule).
    ``fingerprint`` names the rows as loaded (see :func:`data_fingerprint`); a Dataset
    fills it in.
    """

    source: str
    rows_read: int
    rows_available: int | None
    rows_requested: int | None
    subset_seed: int | None
    sha256: str | None = None
    notes: tuple[str, ...] = ()
    full_copy: bool | None = None
    label_column: str | None = None
    fingerprint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values, as results record them (notes as a list)."""
        d = asdict(self)
        d["notes"] = list(self.notes)
        return {
            k: (str(v) if not isinstance(v, (int, float, str, list, type(None))) else v)
            for k, v in d.items()
        }


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification dataset: float32 features, int64 labels 0..C-1, provenance.

    ``classes`` names the classes in label order (y == i is ``classes[i]``): for a binary
    task (``labels="binary"``, y is 0/1) the registry's names such as ``("not spam",
    "spam")`` or a file's own label values (``("0", "1")``, ``("no", "yes")``,
    ``("not 2", "2")`` for one-vs-rest); with ``labels="all"`` every original label value,
    e.g. covertype's ``("1", ..., "7")``.

    ``X`` holds NaN where a file's cell is missing (``missing="impute"``); every split fills
    them from its training rows (:func:`symact.data.split_standardize`), treating each
    block of ``onehot_blocks`` (the columns of one text column) as one column.
    """

    name: str
    display_name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    domain: str
    provenance: DataProvenance
    label_rule: str = ""
    classes: tuple[str, ...] = ("0", "1")
    onehot_blocks: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self) -> None:
        # computed from the arrays themselves, whatever loaded them (a file, the registry,
        # sklearn, a caller's own arrays), and again by any replace() that builds a new one
        found = data_fingerprint(self.X, self.y, self.feature_names)
        object.__setattr__(self, "provenance", replace(self.provenance, fingerprint=found))

    @property
    def fingerprint(self) -> str:
        """The hash of the rows a run trains on: see :func:`data_fingerprint`."""
        assert self.provenance.fingerprint is not None
        return self.provenance.fingerprint

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def class_counts(self) -> tuple[int, ...]:
        """Rows of each class, in the order of ``classes``."""
        return tuple(int(n) for n in np.bincount(self.y, minlength=self.n_classes))

    @property
    def positive_rate(self) -> float:
        """Share of rows labelled 1 (the positive class of a binary task)."""
        return float((self.y == 1).mean()) if len(self.y) else 0.0

    def label_summary(self) -> str:
        """One line: which column (or rule) is the label, and how many rows of each class.

        E.g. ``label column 'is_spam' of mail.csv: 1,533 rows; class 0 'not spam': 931,
        class 1 'spam': 602``. The CLI prints it for every file dataset.
        """
        p = self.provenance
        if p.label_column is not None:
            where = f"label column {p.label_column!r} of {Path(p.source).name}"
        else:
            where = f"label of {self.display_name} ({self.label_rule})"
        counts = ", ".join(
            f"class {i} {name!r}: {n:,}"
            for i, (name, n) in enumerate(zip(self.classes, self.class_counts, strict=True))
        )
        return f"{where}: {self.n_rows:,} rows; {counts}"


def load_dataset(
    name_or_path: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    rows: int | None = None,
    seed: int = 0,
    target: str | int | None = None,
    positive: object = None,
    drop: Sequence[str] = (),
    labels: str = "binary",
    progress: bool | None = None,
    missing: str = "impute",
) -> Dataset:
    """Load a registry dataset (``"higgs"``, ``"covertype"``, ...) or a CSV/Parquet file.

    ``rows`` defaults to the registry's choice (100,000 for HIGGS and covertype, all rows
    otherwise); ``seed`` draws the random subset where one is drawn. ``labels`` is
    ``"binary"`` (the paper's 0/1 task) or ``"all"`` (every class, y in 0..C-1; see
    ``Dataset.classes``). ``target``, ``positive`` and ``drop`` (column names to leave out)
    apply to files only (see ``readers``). ``progress`` forces the download progress bar on
    or off (default: shown on a terminal). ``missing`` says what a file's missing cells
    become: ``"impute"`` (filled per split from its training rows, with indicator columns),
    ``"drop"`` (their rows left out) or ``"refuse"`` (a DataError); see
    :mod:`symact.data.missing` (registry datasets have none). Every bad argument or input
    is a DataError.
    """
    rows = checked_rows(rows)
    seed = checked_seed(seed)
    labels = checked_labels_mode(labels)
    missing = checked_missing(missing)
    if is_openml(name_or_path):
        folder = data_home(data_dir)
        return _load_openml(
            str(name_or_path), folder, rows, seed, target, positive, drop, labels, missing
        )
    key = resolve_name(name_or_path) if isinstance(name_or_path, str) else None
    if key is not None:
        _refuse_file_options(key, target=target, positive=positive, drop=drop)
        info = REGISTRY[key]
        if info.is_builtin:
            ds = _load_builtin(info, rows, seed, labels)
        else:
            ds = _load_uci(info, data_home(data_dir), rows, seed, labels, progress)
        return ds if labels == "binary" else replace(ds, label_rule=_every_class_rule(ds))
    if _looks_like_path(name_or_path):
        return _load_user_file(
            Path(name_or_path), rows, seed, target, positive, drop, labels, missing
        )
    get_info(str(name_or_path))  # raises the "unknown dataset" error listing known names
    raise AssertionError("unreachable")


def _every_class_rule(ds: Dataset) -> str:
    """The label rule of a registry dataset loaded with ``labels="all"``."""
    classes = ", ".join(ds.classes)
    return f"every label value is its own class: {classes} -> 0..{ds.n_classes - 1}"


def _refuse_file_options(key: str, **options: object) -> None:
    given = [name for name, value in options.items() if value not in (None, (), [], "")]
    if not given:
        return
    parts: list[str | Option] = []
    for i, name in enumerate(given):
        parts += [", " if i else "", Option(name)]
    verb = "applies" if len(given) == 1 else "apply"
    raise DataError(
        *parts,
        f" {verb} to CSV/Parquet files only; {key!r} is a registry dataset whose label rule "
        f"is fixed: {REGISTRY[key].label_rule}",
    )


def dataset_table(data_dir: str | os.PathLike[str] | None = None) -> list[dict[str, object]]:
    """One row per registry dataset for ``symact datasets``; touches no network.

    Keys: name, display_name, domain, rows (what a default load returns, None = all),
    rows_full (the full dataset's size), features, label_rule, source (URL or
    ``sklearn:<loader>``), cached (True when a default load needs no download), path (the
    local file that would be read, or the longest cached prefix; None if none).
    """
    folder = data_home(data_dir)
    table = []
    for info in REGISTRY.values():
        if info.is_builtin:
            source, cached, path = f"sklearn:{info.sklearn_loader}", True, None
        else:
            source = file_url(info)
            found = find_cached(info, folder, info.default_rows)
            cached = found is not None
            if found is None and (prefixes := cached_prefixes(info, folder)):
                found = prefixes[max(prefixes)]
            path = str(found) if found is not None else None
        table.append(
            {
                "name": info.name,
                "display_name": info.display_name,
                "domain": info.domain,
                "rows": info.default_rows,
                "rows_full": info.full_rows,
                "features": info.n_features,
                "label_rule": info.label_rule,
                "source": source,
                "cached": cached,
                "path": path,
            }
        )
    return table


# --------------------------------------------------------------------------- loaders


@dataclass(frozen=True, eq=False)
class _Rows:
    """Validated arrays and what they mean, before row selection.

    ``binary_hint`` is the option that makes a multi-class task binary (see
    ``check_enough_rows``): ``labels='binary'`` for the registry, ``positive=`` for files.
    """

    X: np.ndarray
    y: np.ndarray
    names: tuple[str, ...]
    classes: tuple[str, ...]
    binary_hint: Option = REGISTRY_BINARY
    onehot_blocks: tuple[tuple[int, ...], ...] = ()


def _load_uci(
    info: DatasetInfo,
    folder: Path,
    rows: int | None,
    seed: int,
    labels: str,
    progress: bool | None,
) -> Dataset:
    requested = rows if rows is not None else info.default_rows
    notes: list[str] = []
    path = find_cached(info, folder, requested)
    if path is None:
        path = _download(info, folder, requested, progress, notes)
    if info.selection == "first":
        return _load_prefix(info, path, requested, labels, notes)
    table = read_uci_table(path, info)
    digest = _file_sha256(path)
    full_copy = _full_copy(info, str(path), len(table), digest, notes)
    X, y, classes = split_uci_table(table, info, labels)
    found = _Rows(X, y, info.feature_names, classes)
    return _subset(info, found, str(path), requested, seed, digest, notes, full_copy=full_copy)


def _load_prefix(
    info: DatasetInfo, path: Path, requested: int | None, labels: str, notes: list[str]
) -> Dataset:
    """The first ``requested`` rows of a prefix dataset's file (HIGGS)."""
    assert requested is not None
    table = read_uci_table(path, info, nrows=requested)
    short = len(table) < requested
    if short:
        notes.append(f"requested {requested} rows, file has {len(table)}: using all {len(table)}")
    X, y, classes = split_uci_table(table, info, labels)
    full = info.full_rows
    provenance = DataProvenance(
        source=str(path),
        rows_read=len(table),
        rows_available=len(table) if short else None,
        rows_requested=requested,
        subset_seed=None,
        notes=tuple(notes),
        full_copy=False if short and full is not None and len(table) < full else None,
    )
    return _finish(info, _Rows(X, y, info.feature_names, classes), provenance)


def _full_copy(
    info: DatasetInfo, shown: str, n_rows: int, digest: str | None, notes: list[str]
) -> bool | None:
    """Whether the file ``shown`` is the full UCI file (see the module docstring); may raise.

    A file with the full row count must match the registry's sha256; another row count
    makes it a subset, recorded in ``notes``.
    """
    if info.full_rows is not None and n_rows != info.full_rows:
        notes.append(
            f"file has {n_rows} rows; the full UCI dataset has {info.full_rows}: this is a "
            f"subset, not the UCI file {info.filename}"
            + (f" (sha256 {digest})" if digest and info.sha256 else "")
        )
        return False
    if info.sha256 is None or digest is None:
        return None
    if digest != info.sha256:
        raise DataError(
            f"{shown} is not the UCI file {info.filename}: it has the full {n_rows} rows but its "
            f"sha256 is {digest}, expected {info.sha256}. Delete it so that symact downloads "
            f"it again from {file_url(info)}, or replace it with the UCI file"
        )
    return True


def _download(
    info: DatasetInfo, folder: Path, requested: int | None, progress: bool | None, notes: list
) -> Path:
    compressed = bool(info.filename and info.filename.endswith(".gz"))

    def check(tmp: Path) -> None:
        shown = f"the downloaded file {tmp.name}"
        table = read_uci_table(tmp, info, compressed=compressed, shown_as=shown)
        if info.selection != "first":  # a whole file: the same rule as for a local one
            _full_copy(info, shown, len(table), _file_sha256(tmp), [])

    if info.selection == "first":
        assert requested is not None
        result = fetch_prefix(info, folder, requested, check=check, progress=progress)
    else:
        result = fetch_file(info, folder, check=check, progress=progress)
    notes.append(f"downloaded from {result.url}")
    return result.path


def _load_builtin(info: DatasetInfo, rows: int | None, seed: int, labels: str) -> Dataset:
    X, y, names, classes = load_sklearn(info, labels)
    source = f"sklearn:{info.sklearn_loader}"
    return _subset(info, _Rows(X, y, names, classes), source, rows, seed, None, [])


def _load_user_file(
    path: Path,
    rows: int | None,
    seed: int,
    target: str | int | None,
    positive: object,
    drop: Sequence[str],
    labels: str,
    missing: str = "impute",
) -> Dataset:
    table = read_user_file(
        path, target=target, positive=positive, drop=drop, labels=labels, missing=missing
    )
    stem = path.name.split(".", 1)[0] or path.name
    rule = f"column {table.label_column!r}"
    if positive is not None:
        rule += f" == {positive!r} -> 1, other classes -> 0"
    elif labels == "all":
        rule += f", {len(table.classes)} classes"
    info = DatasetInfo(
        name=stem,
        display_name=stem.upper(),
        domain="user",
        label_rule=rule,
        feature_names=table.feature_names,
    )
    found = _Rows(
        table.X, table.y, table.feature_names, table.classes, FILE_BINARY, table.onehot_blocks
    )
    return _subset(
        info,
        found,
        str(path),
        rows,
        seed,
        _file_sha256(path),
        list(table.notes),
        label_column=table.label_column,
    )


def _load_openml(
    name: str,
    folder: Path,
    rows: int | None,
    seed: int,
    target: str | int | None,
    positive: object,
    drop: Sequence[str],
    labels: str,
    missing: str,
) -> Dataset:
    """``openml:ID`` from its cached table (see ``openml``), read as a user's file is, with
    OpenML's default target and positive class where the caller names none."""
    table = fetch_openml_table(name, folder)
    if positive is None:
        positive = table.positive_for(target, labels)
    if target is None:
        target = table.default_target
    ds = _load_user_file(table.path, rows, seed, target, positive, drop, labels, missing)
    note = (
        f"OpenML dataset {table.dataset_id} ({table.name}) from {table.server}, ARFF md5 "
        f"{table.md5}"
    )
    provenance = replace(ds.provenance, notes=(*ds.provenance.notes, note))
    return replace(
        ds,
        name=f"openml:{table.dataset_id}",
        display_name=openml_label(name),
        domain="openml",
        label_rule=f"OpenML {table.name}: {ds.label_rule}",
        provenance=provenance,
    )


def _subset(
    info: DatasetInfo,
    found: _Rows,
    source: str,
    requested: int | None,
    seed: int,
    digest: str | None,
    notes: list[str],
    *,
    full_copy: bool | None = None,
    label_column: str | None = None,
) -> Dataset:
    """Apply the seeded random row selection and build the Dataset."""
    n = len(found.y)
    X, y = found.X, found.y
    subset_seed = None
    if requested is not None and requested < n:
        # the paper's np.random.choice(len(y), rows, replace=False), with its seed explicit
        idx = np.random.RandomState(seed).choice(n, requested, replace=False)
        X, y = X[idx], y[idx]
        subset_seed = seed
    elif requested is not None and requested > n:
        notes.append(f"requested {requested} rows, file has {n}: using all {n}")
    provenance = DataProvenance(
        source=source,
        rows_read=n,
        rows_available=n,
        rows_requested=requested,
        subset_seed=subset_seed,
        sha256=digest,
        notes=tuple(notes),
        full_copy=full_copy,
        label_column=label_column,
    )
    return _finish(info, replace(found, X=X, y=y), provenance)


def _finish(info: DatasetInfo, found: _Rows, provenance: DataProvenance) -> Dataset:
    source = f"dataset {info.name!r} ({provenance.source})"
    check_enough_rows(found.y, found.classes, source, binary_hint=found.binary_hint)
    return Dataset(
        name=info.name,
        display_name=info.display_name,
        X=np.ascontiguousarray(found.X, dtype=np.float32),
        y=np.ascontiguousarray(found.y, dtype=np.int64),
        feature_names=tuple(found.names),
        domain=info.domain,
        provenance=provenance,
        label_rule=info.label_rule,
        classes=found.classes,
        onehot_blocks=found.onehot_blocks,
    )


# --------------------------------------------------------------------------- helpers


def data_fingerprint(X: np.ndarray, y: np.ndarray, feature_names: Sequence[str]) -> str:
    """A short hash of a dataset as loaded: features (dtype, shape, bytes), labels and
    feature names, i.e. the rows and columns actually used after every row and column
    option. Run keys carry it, so a rerun never reuses runs trained on other data. Costs
    one pass over the arrays (about 2 ms for covertype's 20,000 x 54)."""
    digest = hashlib.sha256()
    for array in (np.asarray(X), np.asarray(y)):
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(np.ascontiguousarray(array).data)
    digest.update("\0".join(feature_names).encode())
    return digest.hexdigest()[:24]


def _looks_like_path(value: object) -> bool:
    if isinstance(value, os.PathLike):
        return True
    text = str(value)
    path = Path(text)
    return os.sep in text or "/" in text or path.suffix.lower() in _USER_SUFFIXES or path.exists()


def _file_sha256(path: Path) -> str | None:
    """The file's sha256, or None above the size worth hashing on every load."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    return None if size > _HASH_LIMIT_BYTES else file_sha256(path)

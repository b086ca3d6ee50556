"""``load_dataset``: one entry point from a name or a path to a validated binary ``Dataset``.

A registry name is served from the data folder when its file is there (no network at all),
else downloaded once, verified and cached (see ``download``); sklearn's bundled datasets
never touch the network; any other argument is a user's CSV/Parquet file (see
``readers``). Row selection follows the registry: a prefix for ``"first"`` datasets (HIGGS)
and otherwise a seeded random subset, ``np.random.RandomState(seed).choice(n, rows,
replace=False)``, which is the paper's draw with its seed made explicit. Every result
carries a :class:`DataProvenance` saying which file, how many rows and which seed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from symact.data.cache import cached_prefixes, find_cached
from symact.data.download import fetch_file, fetch_prefix
from symact.data.errors import DataError
from symact.data.readers import (
    check_enough_rows,
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
    """

    source: str
    rows_read: int
    rows_available: int | None
    rows_requested: int | None
    subset_seed: int | None
    sha256: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Dataset:
    """A binary classification dataset: float32 features, int64 0/1 labels, provenance."""

    name: str
    display_name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    domain: str
    provenance: DataProvenance
    label_rule: str = ""

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def positive_rate(self) -> float:
        """Share of rows labelled 1."""
        return float(self.y.mean()) if len(self.y) else 0.0


def load_dataset(
    name_or_path: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    rows: int | None = None,
    seed: int = 0,
    target: str | int | None = None,
    positive: object = None,
    progress: bool | None = None,
) -> Dataset:
    """Load a registry dataset (``"higgs"``, ``"covertype"``, ...) or a CSV/Parquet file.

    ``rows`` defaults to the registry's choice (100,000 for HIGGS and covertype, all rows
    otherwise); ``seed`` draws the random subset where one is drawn. ``target`` and
    ``positive`` apply to files only (see ``readers``). ``progress`` forces the download
    progress bar on or off (default: shown on a terminal).
    """
    rows = _checked_rows(rows)
    seed = _checked_seed(seed)
    key = resolve_name(name_or_path) if isinstance(name_or_path, str) else None
    if key is not None:
        if target is not None or positive is not None:
            raise DataError(
                f"target= and positive= apply to CSV/Parquet files; {key!r} is a registry "
                f"dataset whose label rule is fixed: {REGISTRY[key].label_rule}"
            )
        info = REGISTRY[key]
        if info.is_builtin:
            return _load_builtin(info, rows, seed)
        return _load_uci(info, data_home(data_dir), rows, seed, progress)
    if _looks_like_path(name_or_path):
        return _load_user_file(Path(name_or_path), rows, seed, target, positive)
    get_info(str(name_or_path))  # raises the "unknown dataset" error listing known names
    raise AssertionError("unreachable")


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


def _load_uci(
    info: DatasetInfo, folder: Path, rows: int | None, seed: int, progress: bool | None
) -> Dataset:
    requested = rows if rows is not None else info.default_rows
    notes: list[str] = []
    path = find_cached(info, folder, requested)
    if path is None:
        path = _download(info, folder, requested, progress, notes)
    if info.selection == "first":
        assert requested is not None
        table = read_uci_table(path, info, nrows=requested)
        available = len(table) if len(table) < requested else None
        if len(table) < requested:
            notes.append(
                f"requested {requested} rows, file has {len(table)}: using all {len(table)}"
            )
        X, y = split_uci_table(table, info)
        provenance = DataProvenance(
            source=str(path),
            rows_read=len(table),
            rows_available=available,
            rows_requested=requested,
            subset_seed=None,
            notes=tuple(notes),
        )
        return _finish(info, X, y, info.feature_names, provenance)
    digest = _file_sha256(path)
    if info.sha256 is not None and digest != info.sha256:
        raise DataError(
            f"{path} is not the UCI file {info.filename}: its sha256 is {digest}, expected "
            f"{info.sha256}. Delete it so that symact downloads it again from "
            f"{file_url(info)}, or replace it with the UCI file"
        )
    table = read_uci_table(path, info)
    if info.full_rows is not None and len(table) != info.full_rows:
        notes.append(f"file has {len(table)} rows; the full UCI dataset has {info.full_rows}")
    X, y = split_uci_table(table, info)
    return _subset(info, X, y, info.feature_names, str(path), requested, seed, digest, notes)


def _download(
    info: DatasetInfo, folder: Path, requested: int | None, progress: bool | None, notes: list
) -> Path:
    compressed = bool(info.filename and info.filename.endswith(".gz"))

    def check(tmp: Path) -> None:
        read_uci_table(tmp, info, compressed=compressed, shown_as=f"the downloaded file {tmp.name}")

    if info.selection == "first":
        assert requested is not None
        result = fetch_prefix(info, folder, requested, check=check, progress=progress)
    else:
        result = fetch_file(info, folder, check=check, progress=progress)
    notes.append(f"downloaded from {result.url}")
    return result.path


def _load_builtin(info: DatasetInfo, rows: int | None, seed: int) -> Dataset:
    X, y, names = load_sklearn(info)
    source = f"sklearn:{info.sklearn_loader}"
    return _subset(info, X, y, names, source, rows, seed, None, [])


def _load_user_file(
    path: Path, rows: int | None, seed: int, target: str | int | None, positive: object
) -> Dataset:
    X, y, names, notes = read_user_file(path, target=target, positive=positive)
    stem = path.name.split(".", 1)[0] or path.name
    info = DatasetInfo(
        name=stem,
        display_name=stem.upper(),
        domain="user",
        label_rule=f"column {target!r}" if target is not None else "last column",
        feature_names=names,
    )
    if positive is not None:
        info = replace(info, label_rule=f"{info.label_rule} == {positive!r}")
    return _subset(info, X, y, names, str(path), rows, seed, _file_sha256(path), list(notes))


def _subset(
    info: DatasetInfo,
    X: np.ndarray,
    y: np.ndarray,
    names: tuple[str, ...],
    source: str,
    requested: int | None,
    seed: int,
    digest: str | None,
    notes: list[str],
) -> Dataset:
    """Apply the seeded random row selection and build the Dataset."""
    n = len(y)
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
    )
    return _finish(info, X, y, names, provenance)


def _finish(
    info: DatasetInfo,
    X: np.ndarray,
    y: np.ndarray,
    names: tuple[str, ...],
    provenance: DataProvenance,
) -> Dataset:
    check_enough_rows(y, f"dataset {info.name!r} ({provenance.source})")
    return Dataset(
        name=info.name,
        display_name=info.display_name,
        X=np.ascontiguousarray(X, dtype=np.float32),
        y=np.ascontiguousarray(y, dtype=np.int64),
        feature_names=tuple(names),
        domain=info.domain,
        provenance=provenance,
        label_rule=info.label_rule,
    )


# --------------------------------------------------------------------------- helpers


def _checked_rows(rows: object) -> int | None:
    if rows is None:
        return None
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or rows < 1:
        raise DataError(f"rows must be a positive integer or None (all/default), got {rows!r}")
    return int(rows)


def _checked_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise DataError(f"seed must be an integer, got {seed!r}")
    if not 0 <= seed < 2**32:
        raise DataError(f"seed must lie in [0, 2**32), got {seed}")
    return int(seed)


def _looks_like_path(value: object) -> bool:
    if isinstance(value, os.PathLike):
        return True
    text = str(value)
    path = Path(text)
    return os.sep in text or "/" in text or path.suffix.lower() in _USER_SUFFIXES or path.exists()


def _file_sha256(path: Path) -> str | None:
    try:
        if path.stat().st_size > _HASH_LIMIT_BYTES:
            return None
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    return digest.hexdigest()

"""Names and lookup of the files a dataset may have in the data folder.

A dataset's canonical file (e.g. ``spambase.data``) is the UCI file under its UCI name. For
datasets the paper reads as a prefix (HIGGS), a prefix read over the network is cached as
``<stem>.first<N><suffix>`` (e.g. ``HIGGS.first100000.csv.gz``); any cached prefix at least
as long as a request serves it, so a 100,000-row cache also serves ``rows=5000``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from symact.data.errors import DataError
from symact.data.registry import DatasetInfo


def _stem_suffix(filename: str) -> tuple[str, str]:
    stem, dot, rest = filename.partition(".")
    return stem, (dot + rest)


def prefix_cache_name(info: DatasetInfo, rows: int | str) -> str:
    """File name of a cached ``rows``-row prefix of ``info``'s canonical file."""
    assert info.filename is not None
    stem, suffix = _stem_suffix(info.filename)
    return f"{stem}.first{rows}{suffix}"


def cached_prefixes(info: DatasetInfo, folder: Path) -> dict[int, Path]:
    """Cached prefixes of ``info`` in ``folder``, keyed by their row count."""
    if info.filename is None or not folder.is_dir():
        return {}
    stem, suffix = _stem_suffix(info.filename)
    pattern = re.compile(rf"{re.escape(stem)}\.first(\d+){re.escape(suffix)}")
    found = {}
    for path in folder.iterdir():
        m = pattern.fullmatch(path.name)
        if m and path.is_file():
            found[int(m.group(1))] = path
    return found


def find_cached(info: DatasetInfo, folder: Path, rows: int | None) -> Path | None:
    """The file that can serve a request for ``rows`` rows without network, if any.

    The canonical file serves every request. For prefix datasets, the shortest cached
    prefix with at least ``rows`` rows serves it too.
    """
    if info.filename is None:
        return None
    canonical = folder / info.filename
    if canonical.is_file():
        return canonical
    if info.selection == "first" and rows is not None:
        long_enough = {n: p for n, p in cached_prefixes(info, folder).items() if n >= rows}
        if long_enough:
            return long_enough[min(long_enough)]
    return None


def file_sha256(path: Path) -> str:
    """The sha256 of a file in the data folder (read in 1 MiB blocks), which provenance
    records and the registry's full copies must match."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    return digest.hexdigest()

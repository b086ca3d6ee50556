"""OpenML datasets (``openml:ID``): downloaded once with openml-python, cached, then offline.

**Client.** openml-python, not scikit-learn's ``fetch_openml``: both are maintained, but
``fetch_openml`` hard-codes its server in a private module constant (``_OPENML_PREFIX``), so
neither a mirror nor a test server can be named without patching a library's private name;
openml-python has a public setting (``openml.config.server``) and a public cache folder
(``openml.config.set_root_cache_directory``). It is an optional extra (``pip install
symact[openml]``): nothing imports it until an ``openml:`` source is first downloaded.

**Server.** ``SYMACT_OPENML_SERVER`` names the API's base URL (default OpenML's own,
``https://www.openml.org/api/v1/xml``); a mirror or a local test server serves the same
paths: ``data/<id>`` (the description: name, default target, ARFF URL, md5 checksum) and
``data/features/<id>`` (each column's type and nominal values).

**Cache.** ``<data folder>/openml/<id>/``: ``data.parquet`` (every column of the dataset,
as OpenML gives it) and ``meta.json`` (name, default target, the target's nominal values,
the positive class, the ARFF's md5 and the parquet's sha256). The client checks the ARFF
against the description's ``md5_checksum`` as it downloads; the loader checks the parquet's
sha256 on every read. Once cached, loading never imports the client and never touches the
network. A download is built in a temporary folder beside the cache and moved into place
only when complete, so one that fails half-way leaves nothing behind.

**Labels.** The default target is the description's ``default_target_attribute``; it must be
nominal (a classification task), else a DataError before any training. For a binary target
the positive class (label 1) is the minority class (the rarer label, e.g. credit-g's
``bad``); at a tie, the second of the target's nominal values as OpenML lists them. Either
can be overridden per dataset (``target``, ``positive``). The table then loads through the
same reader as a user's file (one-hot text columns, checks, provenance).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symact.data.cache import file_sha256
from symact.data.errors import DataError

DEFAULT_SERVER = "https://www.openml.org/api/v1/xml"
PREFIX = "openml:"
_ID = re.compile(r"[0-9]{1,10}")
_UNKNOWN_DATASET = 111  # OpenML's error code for a dataset id it does not have
_INSTALL = "pip install 'symact[openml]' (or pip install openml)"


def is_openml(name: object) -> bool:
    """True for an ``openml:ID`` source (any case)."""
    return isinstance(name, str) and name.strip().lower().startswith(PREFIX)


def parse_openml_source(text: str) -> str:
    """The canonical ``openml:<id>`` of ``text``; a DataError naming it if the id is not a
    positive integer."""
    raw = text.strip()[len(PREFIX) :].strip()
    if not _ID.fullmatch(raw) or int(raw) == 0:
        raise DataError(
            f"{text!r} is not an OpenML dataset: write openml:<dataset id>, e.g. openml:31 "
            "(the id is the number in the dataset's page address, openml.org/d/31)"
        )
    return f"{PREFIX}{int(raw)}"


def openml_id(name: str) -> int:
    return int(parse_openml_source(name)[len(PREFIX) :])


def openml_label(name: str) -> str:
    """The table label of ``openml:ID``, known without loading: ``OPENML_<ID>``."""
    return f"OPENML_{openml_id(name)}"


def openml_server() -> str:
    """The OpenML API base URL: ``SYMACT_OPENML_SERVER`` or OpenML's own."""
    return (os.environ.get("SYMACT_OPENML_SERVER") or DEFAULT_SERVER).rstrip("/")


@dataclass(frozen=True)
class OpenMLTable:
    """A cached OpenML dataset: its table as a parquet file and what OpenML says of it."""

    dataset_id: int
    name: str
    path: Path
    default_target: str
    target_values: tuple[str, ...]
    positive: str | None
    md5: str
    sha256: str
    server: str

    def positive_for(self, target: object, labels: str) -> str | None:
        """The positive class to use when the entry names none: OpenML's rule applies to
        its own default target of a binary task only."""
        if target not in (None, self.default_target) or labels != "binary":
            return None
        return self.positive


def fetch_openml_table(name: str, folder: Path) -> OpenMLTable:
    """The cached table of ``openml:ID`` under ``folder``, downloaded first if absent."""
    did = openml_id(name)
    dest = folder / "openml" / str(did)
    if (dest / "meta.json").is_file():
        return _read_cached(dest, did)
    return _download(did, dest)


def _read_cached(dest: Path, did: int) -> OpenMLTable:
    try:
        meta = json.loads((dest / "meta.json").read_text(encoding="utf-8"))
        table = OpenMLTable(
            dataset_id=did,
            name=str(meta["name"]),
            path=dest / "data.parquet",
            default_target=str(meta["default_target"]),
            target_values=tuple(meta["target_values"]),
            positive=meta["positive"],
            md5=str(meta["md5"]),
            sha256=str(meta["sha256"]),
            server=str(meta["server"]),
        )
        digest = file_sha256(table.path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"the cached OpenML dataset {dest} is damaged ({exc}); delete that folder so that "
            "symact downloads it again"
        ) from None
    if digest != table.sha256:
        raise DataError(
            f"{table.path} has sha256 {digest}, not the {table.sha256} recorded when it was "
            f"downloaded; delete {dest} so that symact downloads openml:{did} again"
        )
    return table


def _download(did: int, dest: Path) -> OpenMLTable:
    try:
        import openml
    except ImportError:
        raise DataError(f"openml:{did} needs the OpenML client: {_INSTALL}") from None
    server = openml_server()
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.parent / f".part-{did}-{secrets.token_hex(4)}"
    try:
        work.mkdir()
        openml.config.server = server
        openml.config.set_root_cache_directory(str(work / "client"))
        openml.config.set_retry_policy("human", 1)
        dataset = _get_dataset(openml, did, server)
        _write_table(dataset, did, server, work / "final")
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(dest)  # a damaged copy the user was told to delete
        os.replace(work / "final", dest)
        return _read_cached(dest, did)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _get_dataset(openml: Any, did: int, server: str) -> Any:
    from openml.exceptions import OpenMLHashException, OpenMLServerException

    try:
        return openml.datasets.get_dataset(
            did,
            download_data=True,
            download_qualities=False,
            download_features_meta_data=True,
        )
    except OpenMLServerException as exc:
        if exc.code == _UNKNOWN_DATASET:
            raise DataError(
                f"openml:{did}: OpenML ({server}) has no dataset with id {did}; check the id "
                "on openml.org/d/<id>"
            ) from None
        raise DataError(f"openml:{did}: the OpenML server {server} refused: {exc}") from None
    except OpenMLHashException as exc:
        raise DataError(
            f"openml:{did}: the downloaded file does not match OpenML's md5 checksum ({exc}); "
            "nothing was kept, try again"
        ) from None
    except Exception as exc:  # the client's network errors come in many types
        raise DataError(
            f"openml:{did}: could not download from {server} ({type(exc).__name__}: {exc}); "
            "nothing was kept. Without internet, set SYMACT_OPENML_SERVER to a mirror or "
            "download it once on a machine with internet and copy the data folder's openml/"
        ) from None


def _write_table(dataset: Any, did: int, server: str, out: Path) -> OpenMLTable:
    target = dataset.default_target_attribute
    if not target or "," in target:
        raise DataError(
            f"openml:{did} ({dataset.name}) has no single default target; name the label "
            "column with target"
        )
    feature = next((f for f in dataset.features.values() if f.name == target), None)
    if feature is None or feature.data_type != "nominal":
        kind = "missing" if feature is None else feature.data_type
        raise DataError(
            f"openml:{did} ({dataset.name}) is not a classification dataset: its target "
            f"{target!r} is {kind}, not nominal"
        )
    frame, *_ = dataset.get_data(dataset_format="dataframe")
    for col in frame.columns:  # categories as text, so the reader one-hot encodes them
        if str(frame[col].dtype) == "category":
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    values = tuple(str(v) for v in feature.nominal_values)
    counts = frame[target].astype(str).value_counts()
    positive = None
    if len(values) == 2:
        positive = min(values, key=lambda v: (int(counts.get(v, 0)), -values.index(v)))
    out.mkdir()
    path = out / "data.parquet"
    frame.to_parquet(path, index=False)
    meta = {
        "id": did,
        "name": dataset.name,
        "default_target": target,
        "target_values": list(values),
        "positive": positive,
        "md5": dataset.md5_checksum,
        "sha256": file_sha256(path),
        "server": server,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return _read_cached(out, did)

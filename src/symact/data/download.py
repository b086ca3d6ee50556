"""Downloading UCI files safely: stream, check, then move into place atomically.

Everything is written to a temporary ``.part`` file in the target folder, checked by the
caller's ``check`` callable (the file's format, and for a file with the full dataset's row
count the registry's sha256, see ``dataset``), and only then renamed onto its final name
with ``os.replace``, so the data folder never holds a
partial or unverified file: on any failure the temporary files are deleted and a
:class:`DataError` names the URL, what went wrong, and which file to put in which folder to
work offline.

Prefix datasets (HIGGS) are never downloaded whole: the gzip stream is decompressed as it
arrives and the connection is closed after the requested number of rows; only that prefix
is written (recompressed) to the cache. Where a classic UCI path answers 404, UCI's
``static/public/<id>/<name>.zip`` archive is downloaded whole instead (see registry).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import os
import secrets
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from symact.data.cache import prefix_cache_name
from symact.data.errors import DataError, Option
from symact.data.registry import DatasetInfo, file_url, net_timeout, static_zip_url

_CHUNK = 1 << 20
# small reads while streaming a prefix, so that little is fetched beyond the last row needed
_STREAM_CHUNK = 32 << 10
Check = Callable[[Path], None]


@dataclass(frozen=True)
class FetchResult:
    """What a download produced: the final file, where it came from, what was read."""

    path: Path
    url: str
    sha256: str | None
    rows_read: int | None = None
    complete: bool = True


@dataclass
class _Attempt:
    """The temp files a download created so far and the URL it is fetching now."""

    url: str
    temps: list[Path] = field(default_factory=list)


class _Truncated(Exception):
    """The server closed the connection before sending Content-Length bytes."""


# --------------------------------------------------------------------------- public


def fetch_file(
    info: DatasetInfo, folder: Path, *, check: Check, progress: bool | None = None
) -> FetchResult:
    """Download ``info``'s canonical file into ``folder``, verified, atomically.

    ``check(path)`` raises DataError when the downloaded file is not a valid copy.
    """
    assert info.filename is not None
    url = file_url(info)
    dest = folder / info.filename
    with _failure_cleanup(info, folder, url) as attempt:
        temps = attempt.temps
        _make_folder(folder)
        try:
            tmp, digest = _download_to_temp(url, folder, temps, progress)
        except urllib.error.HTTPError as exc:
            if exc.code != 404 or info.static_zip is None:
                raise
            url = attempt.url = static_zip_url(info)
            tmp, digest = _file_from_zip(info, url, folder, temps, progress)
        check(tmp)
        os.replace(tmp, dest)
        return FetchResult(path=dest, url=url, sha256=digest)


def fetch_prefix(
    info: DatasetInfo,
    folder: Path,
    rows: int,
    *,
    check: Check,
    progress: bool | None = None,
) -> FetchResult:
    """Read the first ``rows`` lines of ``info``'s gzip file over HTTP and cache them.

    The prefix is cached as ``prefix_cache_name(info, rows_read)``. If the stream ends
    before ``rows`` lines, the whole file has been received and is stored byte for byte
    under its canonical name instead (``complete=True``).
    """
    assert info.filename is not None
    url = file_url(info)
    with _failure_cleanup(info, folder, url) as attempt:
        temps = attempt.temps
        _make_folder(folder)
        try:
            response = _open(url)
        except urllib.error.HTTPError as exc:
            if exc.code != 404 or info.static_zip is None:
                raise
            url = attempt.url = static_zip_url(info)
            zip_tmp, _ = _download_to_temp(url, folder, temps, progress)
            with zipfile.ZipFile(zip_tmp) as archive:
                member = _zip_member(archive, info, url)
                with archive.open(member) as stream:
                    return _save_prefix(
                        info, folder, rows, stream, None, url, check, temps, progress
                    )
        with response:
            length = _content_length(response)
            return _save_prefix(info, folder, rows, response, length, url, check, temps, progress)


# --------------------------------------------------------------------------- internals


def _open(url: str) -> http.client.HTTPResponse:
    request = urllib.request.Request(url, headers={"User-Agent": "symact"})
    return urllib.request.urlopen(request, timeout=net_timeout())


def _content_length(response: http.client.HTTPResponse) -> int | None:
    raw = response.headers.get("Content-Length")
    return int(raw) if raw and raw.isdigit() else None


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the data folder {folder}: {exc}") from None


def _new_temp(folder: Path, name: str, temps: list[Path]) -> Path:
    # Not mkstemp: its files are 0600, which would make a shared data folder unreadable to
    # others once the file is moved into place; this one gets the umask's mode.
    path = folder / f".{name}.{os.getpid()}.{secrets.token_hex(4)}.part"
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    temps.append(path)
    return path


class _Counted:
    """A readable stream that copies what it reads into ``sink`` and catches truncation."""

    def __init__(self, source: BinaryIO, expected: int | None, sink: BinaryIO | None = None):
        self.source, self.expected, self.sink = source, expected, sink
        self.received = 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(min(size, _STREAM_CHUNK) if size and size > 0 else _STREAM_CHUNK)
        if data:
            self.received += len(data)
            if self.sink is not None:
                self.sink.write(data)
        elif self.expected is not None and self.received < self.expected:
            raise _Truncated(
                f"the connection closed after {self.received:,} of {self.expected:,} bytes"
            )
        return data


def _download_to_temp(
    url: str, folder: Path, temps: list[Path], progress: bool | None
) -> tuple[Path, str]:
    """Stream ``url`` whole into a new temp file; returns it and its sha256."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    tmp = _new_temp(folder, name, temps)
    digest = hashlib.sha256()
    with _open(url) as response, open(tmp, "wb") as out:
        length = _content_length(response)
        stream = _Counted(response, length, out)
        with _progress_bar(progress, f"downloading {name}", length, unit="bytes") as advance:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
                advance(len(chunk))
    return tmp, digest.hexdigest()


def _zip_member(archive: zipfile.ZipFile, info: DatasetInfo, url: str) -> str:
    for member in archive.namelist():
        if member.rsplit("/", 1)[-1] == info.filename:
            return member
    raise DataError(f"the archive {url} holds no {info.filename} (it has {archive.namelist()})")


def _file_from_zip(
    info: DatasetInfo, url: str, folder: Path, temps: list[Path], progress: bool | None
) -> tuple[Path, str]:
    """Download UCI's zip archive whole and extract the canonical file to a temp file."""
    assert info.filename is not None
    zip_tmp, _ = _download_to_temp(url, folder, temps, progress)
    tmp = _new_temp(folder, info.filename, temps)
    digest = hashlib.sha256()
    with (
        zipfile.ZipFile(zip_tmp) as archive,
        archive.open(_zip_member(archive, info, url)) as member,
        open(tmp, "wb") as out,
    ):
        while chunk := member.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return tmp, digest.hexdigest()


def _save_prefix(
    info: DatasetInfo,
    folder: Path,
    rows: int,
    source: BinaryIO,
    length: int | None,
    url: str,
    check: Check,
    temps: list[Path],
    progress: bool | None,
) -> FetchResult:
    """Decompress ``source`` until ``rows`` lines; keep the prefix, or the whole file."""
    assert info.filename is not None
    prefix_tmp = _new_temp(folder, prefix_cache_name(info, rows), temps)
    whole_tmp = _new_temp(folder, info.filename, temps)
    with open(whole_tmp, "wb") as whole, open(prefix_tmp, "wb") as prefix_file:
        counted = _Counted(source, length, whole)
        # mtime=0 and no file name: the cached prefix is a deterministic function of the
        # rows; level 1 keeps recompression from dominating the download (~1 s per 100k rows)
        with (
            gzip.GzipFile(
                fileobj=prefix_file, mode="wb", mtime=0, filename="", compresslevel=1
            ) as out,
            _progress_bar(progress, f"reading {info.filename}", rows, unit="rows") as advance,
        ):
            read, complete = _copy_lines(counted, out, rows, advance)
    if complete:
        check(whole_tmp)
        dest = folder / info.filename
        os.replace(whole_tmp, dest)
        return FetchResult(dest, url, _sha256_file(dest), rows_read=read, complete=True)
    check(prefix_tmp)
    dest = folder / prefix_cache_name(info, read)
    os.replace(prefix_tmp, dest)
    return FetchResult(dest, url, None, rows_read=read, complete=False)


def _copy_lines(
    compressed: _Counted, out: BinaryIO, rows: int, advance: Callable[[int], None]
) -> tuple[int, bool]:
    """Copy the first ``rows`` lines of a gzip stream to ``out``: (lines copied, hit EOF)."""
    reader = gzip.GzipFile(fileobj=compressed, mode="rb")  # type: ignore[arg-type]
    count = 0
    last = b"\n"
    while count < rows:
        chunk = reader.read(2 * _STREAM_CHUNK)
        if not chunk:
            if last != b"\n":  # a final line without a newline is still a row
                out.write(b"\n")
                count += 1
                advance(1)
            return count, True
        n = chunk.count(b"\n")
        if count + n >= rows:
            cut = -1
            for _ in range(rows - count):
                cut = chunk.index(b"\n", cut + 1)
            out.write(chunk[: cut + 1])
            advance(rows - count)
            return rows, False
        out.write(chunk)
        count += n
        advance(n)
        last = chunk[-1:]
    return count, False


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _progress_bar(
    enabled: bool | None, label: str, total: int | None, *, unit: str
) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (only on a terminal by default); yields ``advance``."""
    console = Console(stderr=True)
    show = console.is_terminal if enabled is None else enabled
    if unit == "bytes":
        columns = (DownloadColumn(), TransferSpeedColumn())
    else:
        columns = (MofNCompleteColumn(),)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        *columns,
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not show,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@contextlib.contextmanager
def _failure_cleanup(info: DatasetInfo, folder: Path, url: str) -> Iterator[_Attempt]:
    """Delete every temp file on exit (and the data folders this download created, if it
    failed: a failed run leaves nothing behind); turn any failure into one DataError."""
    attempt = _Attempt(url=url)
    missing = []  # the folders that do not exist yet, innermost first
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    ok = False
    try:
        yield attempt
        ok = True
    except (
        DataError,
        _Truncated,
        urllib.error.URLError,
        http.client.HTTPException,
        OSError,
        EOFError,
        zlib.error,
        zipfile.BadZipFile,
    ) as exc:
        raise DataError(*_failure_message(info, folder, attempt.url, exc)) from exc
    finally:
        for tmp in attempt.temps:
            tmp.unlink(missing_ok=True)
        if not ok:
            for created in missing:  # innermost first; only if still empty
                with contextlib.suppress(OSError):
                    created.rmdir()


def _failure_message(
    info: DatasetInfo, folder: Path, url: str, exc: BaseException
) -> list[str | Option]:
    cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    reason: list[str | Option]
    if isinstance(exc, urllib.error.HTTPError):
        reason = [f"HTTP {exc.code} {exc.reason}"]
    elif isinstance(cause, TimeoutError):
        reason = [f"no answer within {net_timeout():g} s (SYMACT_NET_TIMEOUT)"]
    elif isinstance(exc, urllib.error.URLError):
        reason = [f"network error: {exc.reason}"]
    elif isinstance(exc, DataError):
        reason = list(exc.parts)
    else:
        reason = [str(exc) or type(exc).__name__]
    tried = file_url(info)
    if url != tried:
        tried = f"{tried} (404) and {url}"
    prefix_hint = (
        f" (its first N lines, gzipped, also serve, named {prefix_cache_name(info, '<N>')})"
        if info.selection == "first"
        else ""
    )
    return [
        f"could not get {info.filename} for dataset {info.name!r} from {tried}: ",
        *reason,
        f". Expected the UCI file {info.filename}"
        + (f" (sha256 {info.sha256})" if info.sha256 else "")
        + f". To work offline, download {file_url(info)} yourself and put it, named "
        f"{info.filename}, into {folder}{prefix_hint}; or pass ",
        Option("data_dir", placeholder="<folder>"),
        " / set SYMACT_DATA_DIR to a folder holding it. SYMACT_UCI_MIRROR replaces the UCI "
        "base URL. No partial file was kept.",
    ]

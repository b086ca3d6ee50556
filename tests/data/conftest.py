"""A real local HTTP server laid out like UCI, serving the real dataset slices.

The server root mirrors UCI's URL layout: ``ml/machine-learning-databases/<path>`` for the
classic files and ``static/public/<id>/<name>.zip`` for the archives, so that
``SYMACT_UCI_MIRROR=<root>/ml/machine-learning-databases/`` also exercises the computed
static-archive fallback. The handler counts the bytes it sends per path and can be told
to cut a response short (the connection drops after N bytes) or to stall (no answer).
"""

from __future__ import annotations

import shutil
import socket
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CLASSIC = "ml/machine-learning-databases"
UCI_LAYOUT = {  # UCI path -> canonical file name in canonical_data_dir
    "00280/HIGGS.csv.gz": "HIGGS.csv.gz",
    "covtype/covtype.data.gz": "covtype.data.gz",
    "spambase/spambase.data": "spambase.data",
}


@dataclass
class UCIServer:
    """State shared with the handler threads, plus helpers for tests."""

    root: Path
    base: str = ""
    bytes_sent: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    requests: list[str] = field(default_factory=list)
    drop_after: dict[str, int] = field(default_factory=dict)
    stall: set[str] = field(default_factory=set)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def mirror(self) -> str:
        return f"{self.base}/{CLASSIC}/"

    def url_path(self, rel: str) -> str:
        return f"/{CLASSIC}/{rel}"

    def put(self, rel: str, data: bytes, *, classic: bool = True) -> Path:
        """Serve ``data`` at a classic (or, with classic=False, root-relative) path."""
        path = self.root / (CLASSIC if classic else "") / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        path.write_bytes(data)
        return path

    def remove(self, rel: str) -> None:
        (self.root / CLASSIC / rel).unlink()


def _handler(state: UCIServer):
    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output quiet
            pass

        def do_GET(self) -> None:
            state.requests.append(self.path)
            if self.path in state.stall:
                state.release.wait(10)
                return
            super().do_GET()

        def copyfile(self, source, outputfile) -> None:  # type: ignore[override]
            limit = state.drop_after.get(self.path)
            sent = 0
            try:
                while chunk := source.read(16 * 1024):
                    if limit is not None and sent + len(chunk) > limit:
                        outputfile.write(chunk[: limit - sent])
                        state.bytes_sent[self.path] += limit - sent
                        self.close_connection = True
                        return
                    outputfile.write(chunk)
                    sent += len(chunk)
                    state.bytes_sent[self.path] += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler


@pytest.fixture
def uci_server(tmp_path: Path, canonical_data_dir: Path) -> Iterator[UCIServer]:
    """A running server on 127.0.0.1 serving the real slices under UCI's layout."""
    root = tmp_path / "www"
    for rel, name in UCI_LAYOUT.items():
        target = root / CLASSIC / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(canonical_data_dir / name, target)
    state = UCIServer(root=root)
    handler = partial(_handler(state), directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # a small send buffer keeps the kernel from absorbing much of a file the client abandons
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def mirror_env(uci_server: UCIServer, monkeypatch: pytest.MonkeyPatch) -> UCIServer:
    """The server, with SYMACT_UCI_MIRROR pointing at it and a short network timeout."""
    monkeypatch.setenv("SYMACT_UCI_MIRROR", uci_server.mirror)
    monkeypatch.delenv("SYMACT_UCI_STATIC_MIRROR", raising=False)
    monkeypatch.setenv("SYMACT_NET_TIMEOUT", "5")
    return uci_server

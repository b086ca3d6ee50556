"""openml:ID against a real HTTP server on 127.0.0.1 serving OpenML's API for a real dataset
(300 rows of banana, tests/fixtures/openml): download, md5, cache, offline, refusals."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from symact.data import load_dataset
from symact.data.errors import DataError
from symact.data.openml import parse_openml_source

FIXTURE = Path(__file__).parents[1] / "fixtures" / "openml"
BANANA = Path(__file__).parents[1] / "fixtures" / "tabular" / "banana.csv.gz"
UNKNOWN = (
    '<oml:error xmlns:oml="http://openml.org/openml"><oml:code>111</oml:code>'
    "<oml:message>Unknown dataset</oml:message></oml:error>"
)


class _OpenML(http.server.BaseHTTPRequestHandler):
    """OpenML's XML API paths for the fixture's datasets; ``arff_bytes`` cuts the file."""

    arff_bytes: int | None = None
    hits: list[str]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        parts = self.path.strip("/").split("/")
        if parts[:3] == ["api", "v1", "xml"] and parts[3:4] == ["data"]:
            did = parts[-1]
            kind = "features" if parts[4:5] == ["features"] else "description"
            path = FIXTURE / f"{did}.{kind}.xml"
            if not path.is_file():
                return self._send(412, UNKNOWN.encode())
            return self._send(200, path.read_text().replace("{server}", base).encode())
        if parts == ["files", "banana.arff"]:
            body = (FIXTURE / "banana.arff").read_bytes()
            return self._send(200, body[: self.arff_bytes] if self.arff_bytes else body)
        return self._send(404, b"not found")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(arff_bytes: int | None = None) -> Iterator[tuple[str, list[str]]]:
    handler = type("Handler", (_OpenML,), {"arff_bytes": arff_bytes, "hits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1/xml", handler.hits
    finally:
        server.shutdown()
        server.server_close()


def test_openml_loads_from_the_server_then_offline_from_the_cache(tmp_path, monkeypatch):
    with serve() as (url, hits):
        monkeypatch.setenv("SYMACT_OPENML_SERVER", url)
        ds = load_dataset("openml:1460", data_dir=tmp_path)
    assert any(h.endswith("/data/1460") for h in hits)
    assert any(h.endswith("/files/banana.arff") for h in hits)
    # the same rows as the slice the fixture was made from, label 1 = the minority class
    truth = pd.read_csv(BANANA)
    np.testing.assert_allclose(ds.X, truth[["x1", "x2"]].to_numpy(np.float32))
    minority = truth["class"].value_counts().idxmin()
    assert ds.classes[1] == str(minority)
    np.testing.assert_array_equal(ds.y, (truth["class"] == minority).to_numpy().astype(int))
    assert ds.display_name == "OPENML_1460" and ds.domain == "openml"
    assert any("OpenML dataset 1460 (banana)" in n for n in ds.provenance.notes)
    cached = tmp_path / "openml" / "1460"
    assert sorted(p.name for p in cached.iterdir()) == ["data.parquet", "meta.json"]
    assert not [p for p in (tmp_path / "openml").iterdir() if p.name.startswith(".part")]

    # the server is gone: the cache serves it, with the same arrays
    monkeypatch.setenv("SYMACT_OPENML_SERVER", "http://127.0.0.1:9/api/v1/xml")
    again = load_dataset("openml:1460", data_dir=tmp_path, labels="all")
    np.testing.assert_array_equal(again.X, ds.X)
    assert again.classes == ("-1.0", "1.0")

    # a changed cached file is caught by its recorded sha256
    frame = pd.read_parquet(cached / "data.parquet")
    frame.iloc[0, 0] = 99.0
    frame.to_parquet(cached / "data.parquet", index=False)
    with pytest.raises(DataError, match="sha256"):
        load_dataset("openml:1460", data_dir=tmp_path)


def test_openml_positive_and_target_can_be_overridden(tmp_path, monkeypatch):
    with serve() as (url, _):
        monkeypatch.setenv("SYMACT_OPENML_SERVER", url)
        ds = load_dataset("openml:1460", data_dir=tmp_path, positive="-1.0")
    assert ds.classes[1] == "-1.0"
    truth = pd.read_csv(BANANA)
    np.testing.assert_array_equal(ds.y, (truth["class"] == -1.0).to_numpy().astype(int))


def test_unknown_id_and_regression_target_are_refused_and_leave_nothing(tmp_path, monkeypatch):
    with serve() as (url, _):
        monkeypatch.setenv("SYMACT_OPENML_SERVER", url)
        with pytest.raises(DataError, match="has no dataset with id 424242"):
            load_dataset("openml:424242", data_dir=tmp_path)
        with pytest.raises(DataError, match="not a classification dataset: its target 'x1'"):
            load_dataset("openml:9001", data_dir=tmp_path)
    assert list((tmp_path / "openml").iterdir()) == []


def test_a_download_cut_half_way_leaves_nothing_behind(tmp_path, monkeypatch):
    size = (FIXTURE / "banana.arff").stat().st_size
    with serve(arff_bytes=size // 2) as (url, _):
        monkeypatch.setenv("SYMACT_OPENML_SERVER", url)
        with pytest.raises(DataError, match=r"openml:1460.*nothing was kept"):
            load_dataset("openml:1460", data_dir=tmp_path)
    assert list((tmp_path / "openml").iterdir()) == []


def test_an_unreachable_server_is_one_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMACT_OPENML_SERVER", "http://127.0.0.1:9/api/v1/xml")
    with pytest.raises(DataError, match=r"openml:1460: could not download from http://127"):
        load_dataset("openml:1460", data_dir=tmp_path)
    assert list((tmp_path / "openml").iterdir()) == []


@pytest.mark.parametrize("text", ["openml:", "openml:abc", "openml:-3", "openml:0", "openml:1.5"])
def test_malformed_openml_sources_are_refused(text):
    with pytest.raises(DataError, match="is not an OpenML dataset"):
        parse_openml_source(text)

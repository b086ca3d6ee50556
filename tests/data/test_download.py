"""Downloads against a real local HTTP server serving the real dataset slices (UCI layout)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import socket
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from symact.data import DataError, load_dataset
from symact.data.registry import REGISTRY

SPAM_SHA = REGISTRY["spambase"].sha256  # the full UCI file's


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _higgs_rows(data: Path, n: int) -> np.ndarray:
    return pd.read_csv(data / "HIGGS.csv.gz", header=None, nrows=n).to_numpy()


def _full_size_spambase(data: Path) -> bytes:
    """4,601 real spambase rows (the slice, then 601 of its rows again): the UCI file's row
    count, so symact takes the file for a claimed full copy and checks its sha256."""
    lines = (data / "spambase.data").read_bytes().splitlines(keepends=True)
    return b"".join(lines + lines[:601])


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_spambase_downloads_verifies_and_caches(mirror_env, tmp_path, canonical_data_dir):
    data = tmp_path / "data"
    ds = load_dataset("spambase", data_dir=data)
    assert _names(data) == ["spambase.data"]
    served = _sha(canonical_data_dir / "spambase.data")
    assert _sha(data / "spambase.data") == served
    umask = os.umask(0o022)
    os.umask(umask)
    assert (data / "spambase.data").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    assert ds.provenance.sha256 == served and ds.provenance.full_copy is False
    assert (ds.n_rows, ds.n_features, int(ds.y.sum())) == (4000, 57, 1584)
    assert any(mirror_env.mirror in note for note in ds.provenance.notes)
    # the second load is served from the folder: no request at all
    before = len(mirror_env.requests)
    again = load_dataset("spambase", data_dir=data)
    assert len(mirror_env.requests) == before
    np.testing.assert_array_equal(again.X, ds.X)


def test_higgs_streams_a_prefix_and_stops_early(mirror_env, tmp_path, canonical_data_dir):
    # serve a longer file of real HIGGS rows (the 3,000-row slice ten times: 1.7 MB) so that
    # socket buffers, which absorb a few hundred KB, are small beside the file
    rows = gzip.decompress((canonical_data_dir / "HIGGS.csv.gz").read_bytes()).rstrip(b"\n")
    served = mirror_env.put("00280/HIGGS.csv.gz", gzip.compress(b"\n".join([rows] * 10) + b"\n"))
    data = tmp_path / "data"
    ds = load_dataset("higgs", data_dir=data, rows=500)
    expected = _higgs_rows(canonical_data_dir, 500)
    np.testing.assert_allclose(ds.X, expected[:, 1:].astype(np.float32))
    np.testing.assert_array_equal(ds.y, expected[:, 0].astype(np.int64))
    assert ds.provenance.rows_read == 500 and ds.provenance.rows_available is None
    # bytes the server sent: far below the file's size
    file_size = served.stat().st_size
    sent = mirror_env.bytes_sent[mirror_env.url_path("00280/HIGGS.csv.gz")]
    assert 0 < sent < file_size / 5, (sent, file_size)
    # only the prefix is cached, as its own gzip file with exactly 500 lines
    assert _names(data) == ["HIGGS.first500.csv.gz"]
    with gzip.open(data / "HIGGS.first500.csv.gz", "rb") as fh:
        assert fh.read().count(b"\n") == 500


def test_higgs_cached_prefix_serves_shorter_requests_offline(
    mirror_env, tmp_path, canonical_data_dir
):
    data = tmp_path / "data"
    load_dataset("higgs", data_dir=data, rows=300)
    before = len(mirror_env.requests)
    small = load_dataset("higgs", data_dir=data, rows=120)
    assert len(mirror_env.requests) == before
    assert small.provenance.source.endswith("HIGGS.first300.csv.gz")
    expected = _higgs_rows(canonical_data_dir, 120)[:, 1:].astype(np.float32)
    np.testing.assert_allclose(small.X, expected)
    # a longer request than any cache goes back to the network
    load_dataset("higgs", data_dir=data, rows=400)
    assert len(mirror_env.requests) == before + 1
    assert _names(data) == ["HIGGS.first300.csv.gz", "HIGGS.first400.csv.gz"]


def test_higgs_request_beyond_the_file_keeps_the_whole_file(
    mirror_env, tmp_path, canonical_data_dir
):
    data = tmp_path / "data"
    ds = load_dataset("higgs", data_dir=data, rows=20_000)
    assert ds.n_rows == 3_000 and ds.provenance.rows_available == 3_000
    assert any("file has 3000" in n for n in ds.provenance.notes)
    # the stream ended, so the whole file was received: kept byte for byte, canonical name
    assert _names(data) == ["HIGGS.csv.gz"]
    assert _sha(data / "HIGGS.csv.gz") == _sha(canonical_data_dir / "HIGGS.csv.gz")


def test_covertype_downloads_whole_and_draws_the_seeded_subset(
    mirror_env, tmp_path, canonical_data_dir
):
    data = tmp_path / "data"
    ds = load_dataset("covertype", data_dir=data, rows=1000, seed=7)
    assert _names(data) == ["covtype.data.gz"]
    raw = pd.read_csv(canonical_data_dir / "covtype.data.gz", header=None).to_numpy()
    idx = np.random.RandomState(7).choice(len(raw), 1000, replace=False)
    np.testing.assert_array_equal(ds.X, raw[idx, :-1].astype(np.float32))
    np.testing.assert_array_equal(ds.y, (raw[idx, -1] == 2).astype(np.int64))


def test_truncated_file_is_rejected_and_nothing_is_left(mirror_env, tmp_path, canonical_data_dir):
    whole = (canonical_data_dir / "covtype.data.gz").read_bytes()
    mirror_env.put("covtype/covtype.data.gz", whole[: len(whole) // 2])
    data = tmp_path / "data"
    with pytest.raises(DataError) as err:
        load_dataset("covertype", data_dir=data)
    msg = str(err.value)
    assert mirror_env.mirror + "covtype/covtype.data.gz" in msg
    assert "covtype.data.gz" in msg and str(data) in msg
    assert _names(data) == []


def test_truncated_higgs_stream_is_rejected(mirror_env, tmp_path, canonical_data_dir):
    whole = (canonical_data_dir / "HIGGS.csv.gz").read_bytes()
    mirror_env.put("00280/HIGGS.csv.gz", whole[:100_000])
    data = tmp_path / "data"
    with pytest.raises(DataError, match=r"HIGGS\.csv\.gz"):
        load_dataset("higgs", data_dir=data, rows=5000)
    assert _names(data) == []


def test_a_full_size_spambase_that_is_not_the_uci_file_fails_the_checksum(
    mirror_env, tmp_path, canonical_data_dir
):
    mirror_env.put("spambase/spambase.data", _full_size_spambase(canonical_data_dir))
    data = tmp_path / "data"
    with pytest.raises(DataError) as err:
        load_dataset("spambase", data_dir=data)
    msg = str(err.value)
    assert "the downloaded file" in msg and "is not the UCI file spambase.data" in msg
    assert "it has the full 4601 rows but its sha256 is" in msg and f"expected {SPAM_SHA}" in msg
    assert _names(data) == []


def test_altered_covertype_labels_fail_the_format_check(mirror_env, tmp_path, canonical_data_dir):
    text = gzip.decompress((canonical_data_dir / "covtype.data.gz").read_bytes()).decode()
    lines = text.splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ",9"  # Cover_Type 9 does not exist
    mirror_env.put("covtype/covtype.data.gz", gzip.compress("\n".join(lines).encode()))
    data = tmp_path / "data"
    with pytest.raises(DataError, match=r"label column .* holds \[9.0\]"):
        load_dataset("covertype", data_dir=data)
    assert _names(data) == []


@pytest.mark.parametrize(
    ("name", "rel", "rows"),
    [("spambase", "spambase/spambase.data", None), ("higgs", "00280/HIGGS.csv.gz", 9000)],
)
def test_dropped_connection_gives_a_clear_error(mirror_env, tmp_path, name, rel, rows):
    mirror_env.drop_after[mirror_env.url_path(rel)] = 100_000
    data = tmp_path / "data"
    with pytest.raises(DataError) as err:
        load_dataset(name, data_dir=data, rows=rows)
    msg = str(err.value)
    assert "connection closed after 100,000 of" in msg or "ended before" in msg
    assert mirror_env.mirror + rel in msg and "To work offline" in msg
    assert _names(data) == []


def test_classic_404_falls_back_to_the_static_zip(mirror_env, tmp_path, canonical_data_dir):
    mirror_env.remove("spambase/spambase.data")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(canonical_data_dir / "spambase.data", "spambase.data")
        zf.writestr("spambase.names", "| SPAM E-MAIL DATABASE ATTRIBUTES\n")
    mirror_env.put("static/public/94/spambase.zip", buf.getvalue(), classic=False)
    data = tmp_path / "data"
    ds = load_dataset("spambase", data_dir=data)
    assert ds.provenance.sha256 == _sha(canonical_data_dir / "spambase.data")
    assert ds.n_rows == 4000 and "/static/public/94/spambase.zip" in mirror_env.requests
    assert _names(data) == ["spambase.data"]


def test_higgs_prefix_from_the_static_zip(mirror_env, tmp_path, canonical_data_dir):
    mirror_env.remove("00280/HIGGS.csv.gz")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.write(canonical_data_dir / "HIGGS.csv.gz", "HIGGS.csv.gz")
    mirror_env.put("static/public/280/higgs.zip", buf.getvalue(), classic=False)
    data = tmp_path / "data"
    ds = load_dataset("higgs", data_dir=data, rows=250)
    expected = _higgs_rows(canonical_data_dir, 250)[:, 1:].astype(np.float32)
    np.testing.assert_allclose(ds.X, expected)
    assert _names(data) == ["HIGGS.first250.csv.gz"]


def test_explicit_static_mirror(mirror_env, tmp_path, canonical_data_dir, monkeypatch):
    mirror_env.remove("spambase/spambase.data")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(canonical_data_dir / "spambase.data", "spambase.data")
    mirror_env.put("elsewhere/94/spambase.zip", buf.getvalue(), classic=False)
    monkeypatch.setenv("SYMACT_UCI_STATIC_MIRROR", mirror_env.base + "/elsewhere")
    ds = load_dataset("spambase", data_dir=tmp_path / "data")
    assert ds.n_rows == 4000
    assert "/elsewhere/94/spambase.zip" in mirror_env.requests


def test_404_everywhere_names_both_urls(mirror_env, tmp_path):
    mirror_env.remove("spambase/spambase.data")
    data = tmp_path / "data"
    with pytest.raises(DataError) as err:
        load_dataset("spambase", data_dir=data)
    msg = str(err.value)
    assert "spambase/spambase.data (404)" in msg and "static/public/94/spambase.zip" in msg
    assert "HTTP 404" in msg and _names(data) == []


def test_offline_without_a_cached_file_fails_fast_with_advice(tmp_path, monkeypatch):
    # a port nobody listens on: connection refused at once, as when offline
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("SYMACT_UCI_MIRROR", f"http://127.0.0.1:{port}/uci/")
    data = tmp_path / "data"
    with pytest.raises(DataError) as err:
        load_dataset("covertype", data_dir=data)
    msg = str(err.value)
    assert f"http://127.0.0.1:{port}/uci/covtype/covtype.data.gz" in msg
    assert "network error" in msg and f"into {data}" in msg and "covtype.data.gz" in msg
    assert _names(data) == []


def test_a_server_that_never_answers_times_out(mirror_env, tmp_path, monkeypatch):
    monkeypatch.setenv("SYMACT_NET_TIMEOUT", "0.3")
    mirror_env.stall.add(mirror_env.url_path("spambase/spambase.data"))
    data = tmp_path / "data"
    with pytest.raises(DataError, match=r"no answer within 0.3 s"):
        load_dataset("spambase", data_dir=data)
    assert _names(data) == []


def test_progress_bar_on_does_not_change_the_result(mirror_env, tmp_path, canonical_data_dir):
    data = tmp_path / "data"
    spam = load_dataset("spambase", data_dir=data, progress=True)
    higgs = load_dataset("higgs", data_dir=data, rows=100, progress=True)
    assert spam.provenance.sha256 == _sha(canonical_data_dir / "spambase.data")
    assert higgs.n_rows == 100
    assert _names(data) == ["HIGGS.first100.csv.gz", "spambase.data"]


def test_a_failed_download_leaves_no_data_folder_behind(mirror_env, tmp_path):
    """The folders a download created for its file are removed when it fails: a failed run
    leaves nothing behind (an existing folder is kept)."""
    mirror_env.remove("spambase/spambase.data")
    data = tmp_path / "new" / "nested" / "data"
    with pytest.raises(DataError):
        load_dataset("spambase", data_dir=data)
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(DataError):
        load_dataset("spambase", data_dir=kept)
    assert kept.is_dir() and list(kept.iterdir()) == []

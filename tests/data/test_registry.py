"""The registry's entries and the resolution of folders and URLs."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from symact.data import REGISTRY, DataError, list_datasets
from symact.data.cache import find_cached, prefix_cache_name
from symact.data.registry import (
    UCI_BASE_URL,
    data_home,
    file_url,
    get_info,
    net_timeout,
    static_zip_url,
)


def test_registry_holds_the_paper_datasets_and_two_builtins():
    assert list_datasets()[:3] == ["higgs", "covertype", "spambase"]
    assert {"breast_cancer", "wine", "digits"} <= set(list_datasets())
    shapes = {n: (REGISTRY[n].display_name, REGISTRY[n].n_features) for n in REGISTRY}
    assert shapes["higgs"] == ("HIGGS", 28)
    assert shapes["covertype"] == ("FOREST_COVER", 54)
    assert shapes["spambase"] == ("SPAMBASE", 57)
    assert shapes["breast_cancer"] == ("BREAST_CANCER", 30)
    for info in REGISTRY.values():
        assert info.label_rule and info.domain
        assert len(set(info.feature_names)) == len(info.feature_names)
        assert len(info.class_names) == 2 and len(set(info.class_names)) == 2
    assert REGISTRY["spambase"].class_names == ("not spam", "spam")
    assert REGISTRY["covertype"].class_names[1] == "Lodgepole Pine"


def test_covertype_label_is_code_2_named_lodgepole_pine():
    info = REGISTRY["covertype"]
    assert info.positive_value == 2.0 and "Lodgepole Pine" in info.label_rule
    assert "Spruce" not in info.label_rule


def test_names_resolve_by_display_name_and_alias():
    assert get_info("FOREST_COVER").name == "covertype"
    assert get_info("covtype").name == "covertype"
    assert get_info("HIGGS").name == "higgs"
    with pytest.raises(DataError, match="known datasets: higgs, covertype, spambase"):
        get_info("mnist")


def test_data_home_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("SYMACT_DATA_DIR", str(tmp_path / "env"))
    assert data_home(tmp_path / "arg") == tmp_path / "arg"
    assert data_home() == tmp_path / "env"
    monkeypatch.delenv("SYMACT_DATA_DIR")
    assert data_home() == Path(platformdirs.user_cache_dir("symact"))


def test_urls_follow_the_mirror_and_the_static_fallback(monkeypatch):
    monkeypatch.delenv("SYMACT_UCI_MIRROR", raising=False)
    monkeypatch.delenv("SYMACT_UCI_STATIC_MIRROR", raising=False)
    assert file_url(REGISTRY["higgs"]) == UCI_BASE_URL + "00280/HIGGS.csv.gz"
    assert static_zip_url(REGISTRY["covertype"]) == (
        "https://archive.ics.uci.edu/static/public/31/covertype.zip"
    )
    monkeypatch.setenv("SYMACT_UCI_MIRROR", "http://m.example/ml/machine-learning-databases")
    assert file_url(REGISTRY["spambase"]) == (
        "http://m.example/ml/machine-learning-databases/spambase/spambase.data"
    )
    assert static_zip_url(REGISTRY["spambase"]) == (
        "http://m.example/static/public/94/spambase.zip"
    )
    monkeypatch.setenv("SYMACT_UCI_STATIC_MIRROR", "http://z.example/zips")
    assert static_zip_url(REGISTRY["higgs"]) == "http://z.example/zips/280/higgs.zip"


def test_net_timeout_from_env(monkeypatch):
    monkeypatch.setenv("SYMACT_NET_TIMEOUT", "2.5")
    assert net_timeout() == 2.5
    monkeypatch.setenv("SYMACT_NET_TIMEOUT", "soon")
    with pytest.raises(DataError, match="SYMACT_NET_TIMEOUT"):
        net_timeout()


def test_cache_lookup_prefers_canonical_then_shortest_long_enough_prefix(tmp_path):
    info = REGISTRY["higgs"]
    assert prefix_cache_name(info, 100_000) == "HIGGS.first100000.csv.gz"
    for n in (500, 2000, 50_000):
        (tmp_path / prefix_cache_name(info, n)).write_bytes(b"")
    assert find_cached(info, tmp_path, 1000) == tmp_path / "HIGGS.first2000.csv.gz"
    assert find_cached(info, tmp_path, 500) == tmp_path / "HIGGS.first500.csv.gz"
    assert find_cached(info, tmp_path, 60_000) is None
    (tmp_path / "HIGGS.csv.gz").write_bytes(b"")
    assert find_cached(info, tmp_path, 60_000) == tmp_path / "HIGGS.csv.gz"

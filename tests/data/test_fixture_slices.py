"""The dataset slices the test suite reads: what their README says, and real rows."""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import re
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
README = FIXTURES / "data" / "README.md"


@functools.cache
def _make_slices():
    """tests/fixtures/make_slices.py, the script that made the slices, as a module."""
    name = "symact_tests_make_slices"
    spec = importlib.util.spec_from_file_location(name, FIXTURES / "make_slices.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _readme_digests() -> dict[str, tuple[str, str]]:
    """file -> (sha256 of the .gz, sha256 of its content), from the README's table."""
    row = re.compile(r"^\| `([\w.]+\.gz)` \| `([0-9a-f]{64})` \| `([0-9a-f]{64})` \|", re.M)
    return {m[1]: (m[2], m[3]) for m in row.finditer(README.read_text())}


def test_every_slice_has_the_sha256_its_readme_gives():
    digests = _readme_digests()
    files = sorted(p.name for p in (FIXTURES / "data").glob("*.gz"))
    assert sorted(digests) == files == sorted(s.name for s in _make_slices().SLICES)
    total = 0
    for name, (gz_sha, content_sha) in digests.items():
        raw = (FIXTURES / "data" / name).read_bytes()
        total += len(raw)
        assert hashlib.sha256(raw).hexdigest() == gz_sha, name
        assert hashlib.sha256(gzip.decompress(raw)).hexdigest() == content_sha, name
    assert total < 400_000  # slices, never full copies


def test_every_slice_is_a_line_count_the_readme_and_the_script_agree_on():
    for spec in _make_slices().SLICES:
        content = gzip.decompress((FIXTURES / "data" / spec.name).read_bytes())
        assert content.count(b"\n") == spec.rows, spec.name
        assert f"`{spec.name}`" in README.read_text()
        assert f"{spec.rows:,}" in README.read_text()


@pytest.mark.full_data
def test_the_slices_are_exactly_the_rows_the_script_takes_from_the_full_copies(
    full_shared_data,
):
    make = _make_slices()
    for spec in make.SLICES:
        expected = make.gzip_bytes(make.slice_bytes(spec, full_shared_data))
        assert (FIXTURES / "data" / spec.name).read_bytes() == expected, spec.name

"""Shared fixtures: the real dataset copies from ../shared/data, linked under canonical names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SYMACT_SHARED_DATA", REPO.parent / "shared" / "data"))

# canonical UCI file name -> file in ../shared/data
CANONICAL = {
    "HIGGS.csv.gz": "higgs_first10k.csv.gz",
    "covtype.data.gz": "covtype.csv.gz",
    "spambase.data": "spambase.data",
}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real dataset copies; the whole suite depends on it."""
    if not SHARED_DATA.is_dir():
        raise RuntimeError(
            f"real dataset copies not found at {SHARED_DATA}; set SYMACT_SHARED_DATA to the "
            "folder holding spambase.data, covtype.csv.gz and higgs_first10k.csv.gz"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def canonical_data_dir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A data dir holding the real copies under the canonical UCI names (symlinks)."""
    prepared = os.environ.get("SYMACT_TEST_DATA_DIR")  # .ci/run links them once
    if prepared and all((Path(prepared) / name).exists() for name in CANONICAL):
        return Path(prepared)
    d = tmp_path_factory.mktemp("canonical_data")
    for canonical, copy in CANONICAL.items():
        (d / canonical).symlink_to(shared_data / copy)
    return d

"""Fixtures for the training tests: real spambase splits, made as the protocol makes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from training_helpers import protocol_split


@pytest.fixture(scope="session")
def spambase(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = np.loadtxt(shared_data / "spambase.data", delimiter=",")
    return raw[:, :-1].astype(np.float32), raw[:, -1].astype(np.int64)


@pytest.fixture(scope="session")
def spam_split(spambase):
    """Seed-42 protocol split of the whole spambase file (3,680 train / 921 test rows)."""
    return protocol_split(*spambase, seed=42)

"""A results store reached through symbolic links is locked at its real path (issue #18):
two folders linking one store cannot both train into it."""

from __future__ import annotations

import pytest

from symact.experiments.lock import ResultsInUse, lock_holder, lock_path
from symact.experiments.store import ResultsStore


def test_two_folders_linking_one_store_share_its_lock(tmp_path):
    real = tmp_path / "a"
    real.mkdir()
    other = tmp_path / "b"
    other.mkdir()
    (other / "symact.sqlite").symlink_to(real / "symact.sqlite")
    with ResultsStore(real / "symact.sqlite"):
        assert lock_path(other / "symact.sqlite") == real / "symact.sqlite.lock"
        assert lock_holder(other / "symact.sqlite") is not None
        with pytest.raises(ResultsInUse, match="in use by another symact run"):
            ResultsStore(other / "symact.sqlite")
    with ResultsStore(other / "symact.sqlite") as store:  # free again: it opens
        assert store.count() == 0
    assert not (other / "symact.sqlite.lock").exists()


def test_a_linked_out_folder_locks_the_real_store(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    with ResultsStore(link / "symact.sqlite"):
        assert (real / "symact.sqlite.lock").exists()
        with pytest.raises(ResultsInUse):
            ResultsStore(real / "symact.sqlite")

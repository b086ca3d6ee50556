"""Run keys: a field added at its default keeps every key, the keys name the data, and a
store written by this protocol is found by later code; failed runs, transient or not."""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

import pytest

from symact.experiments import DataCache, DataSpec, ResultsStore, RunSpec, SplitSpec, run_grid
from symact.experiments.executors import DETERMINISTIC, TRANSIENT
from symact.models import LIGHT, ModelSpec
from symact.training import TrainConfig

FIXTURES = Path(__file__).parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))
from make_stores import STORE, fixture_specs  # noqa: E402


def _with_new_field(cls: type) -> type:
    """``cls`` with one more field, at a default: what a later version adds."""
    return dataclasses.make_dataclass(
        f"Later{cls.__name__}",
        [("added_later", float, dataclasses.field(default=0.5))],
        bases=(cls,),
        frozen=True,
    )


def test_a_field_added_at_its_default_leaves_every_key_unchanged():
    data = DataSpec("spambase", rows=1000, fingerprint="f" * 24)
    now = RunSpec(data, LIGHT, 3, TrainConfig(epochs=2), SplitSpec(3, validation=0.2))
    later = RunSpec(
        _with_new_field(DataSpec)("spambase", rows=1000, fingerprint="f" * 24),
        _with_new_field(ModelSpec)(hidden=(64, 32)),
        3,
        _with_new_field(TrainConfig)(epochs=2),
        _with_new_field(SplitSpec)(3, validation=0.2),
    )
    assert later.to_dict() == now.to_dict() and later.key() == now.key()
    moved = dataclasses.replace(later, model=dataclasses.replace(later.model, added_later=0.7))
    assert moved.key() != now.key()  # the field, once set, is part of the key
    assert moved.to_dict()["model"]["added_later"] == 0.7


def test_fields_at_their_defaults_are_left_out_of_a_spec_dict():
    d = RunSpec(DataSpec("spambase", fingerprint="f" * 24), LIGHT, 1).to_dict()
    assert d["model"] == {"hidden": [64, 32]}
    assert d["train"] == {} and d["split"] == {"seed": 1}
    assert d["data"] == {"name": "spambase", "fingerprint": "f" * 24}


def test_a_store_written_by_this_protocol_is_found_by_this_code(tmp_path):
    """The committed store (tests/fixtures/make_stores.py) holds two runs: a rerun of the
    same specs finds both and trains nothing. A change that moves run keys fails here."""
    store_path = tmp_path / "symact.sqlite"
    shutil.copy(STORE, store_path)
    data = DataCache()
    specs = fixture_specs(data)
    with ResultsStore(store_path) as store:
        stored = store.stored_runs(s.key() for s in specs)
        summary = run_grid(specs, store, data, device="cpu")
    assert len(stored) == 2 and not any(r["failed"] for r in stored.values())
    assert (summary.trained, summary.skipped) == (0, 2)


def test_a_key_names_the_rows_and_an_unidentified_spec_is_refused(tmp_path, canonical_data_dir):
    data = DataCache(str(canonical_data_dir))
    whole = data.identify(DataSpec("spambase"))
    part = data.identify(DataSpec("spambase", rows=1000))
    assert whole.fingerprint != part.fingerprint
    assert data.identify(DataSpec("spambase")) == whole  # a reload is the same data
    assert data.dataset(whole) is data.dataset(DataSpec("spambase"))  # one load
    bare = RunSpec(DataSpec("spambase"), LIGHT, 1, TrainConfig(epochs=1))
    with ResultsStore(tmp_path / "s.sqlite") as store, pytest.raises(ValueError, match="identify"):
        run_grid([bare], store, data)


def test_a_deterministic_failure_stays_failed_until_retry_failed(tmp_path, canonical_data_dir):
    data = DataCache(str(canonical_data_dir))
    spam = data.identify(DataSpec("spambase"))
    boom = RunSpec(spam, LIGHT.with_activation("mul(exp(exp(x)), 1e30)"), 1, TrainConfig(epochs=2))
    with ResultsStore(tmp_path / "s.sqlite") as store:
        first = run_grid([boom], store, data)
        record = store.get_run(boom.key())
        assert first.failed == 1 and record["failure_kind"] == DETERMINISTIC
        again = run_grid([boom], store, data)
        assert (again.trained, again.skipped, again.failed_stored) == (0, 1, 1)
        stamp = store.finished_at(boom.key())
        retried = run_grid([boom], store, data, retry_failed=True)
        assert (retried.trained, retried.failed) == (1, 1)  # trained again (and fails again)
        assert store.get_run(boom.key())["finished_at"] >= stamp


def test_a_transient_failure_is_trained_again_by_the_rerun(tmp_path, canonical_data_dir):
    """A network whose weights cannot be allocated (4 TB): the allocator's out-of-memory
    error, a real one, is stored as transient, and the next run trains the run again."""
    data = DataCache(str(canonical_data_dir))
    spam = data.identify(DataSpec("spambase"))
    huge = RunSpec(spam, ModelSpec(hidden=(10**6, 10**6)), 1, TrainConfig(epochs=1))
    fine = RunSpec(spam, LIGHT, 1, TrainConfig(epochs=1))
    with ResultsStore(tmp_path / "s.sqlite") as store:
        first = run_grid([huge, fine], store, data)
        record = store.get_run(huge.key())
        assert first.failed == 1 and record["failure_kind"] == TRANSIENT
        assert "memory" in record["failure_reason"]
        again = run_grid([huge, fine], store, data)
        assert (again.trained, again.skipped) == (1, 1)  # the failed run, not the fine one

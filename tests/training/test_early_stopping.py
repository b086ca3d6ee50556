"""Early stopping (``TrainConfig.patience``): each model of a stack stops on its own, on a
validation part carved from its training rows, and keeps its best epoch's weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from training_helpers import protocol_split

from symact.errors import SettingError
from symact.experiments import make_suite
from symact.experiments.specs import DataSpec, RunSpec
from symact.models import ModelSpec
from symact.training import TrainConfig, TrainTask, train_stack
from symact.training.trainer import carve_validation

ACTIVATIONS = ("relu", "tanh", "x*tanh(x)")


@pytest.fixture(scope="module")
def small_split(spambase):
    """1,500 spambase rows, seed-42 protocol split: quick to train for tens of epochs."""
    X, y = spambase
    rows = np.random.default_rng(0).choice(len(y), 1500, replace=False)
    return protocol_split(X[rows], y[rows], seed=42)


def _tasks(split, activations=ACTIVATIONS, seeds=(42,)):
    X_tr, y_tr, X_te, y_te = split
    return [
        TrainTask(X_tr, y_tr, X_te, y_te, ModelSpec(hidden=(32, 16), activation=a), s, label=a)
        for a in activations
        for s in seeds
    ]


CONFIG = TrainConfig.auto(epochs=60, patience=4, batch_size=128, lr=3e-3)


def test_each_model_stops_on_its_own_and_equals_it_trained_alone(small_split):
    tasks = _tasks(small_split, seeds=(42, 7))
    stacked = train_stack(tasks, CONFIG)
    alone = [train_stack([t], CONFIG)[0] for t in tasks]
    assert len({o.epochs_run for o in stacked}) > 1, [o.epochs_run for o in stacked]
    assert sum(o.stopped_early for o in stacked) >= 2
    for s, a in zip(stacked, alone, strict=True):
        assert not s.failed
        # stopped: ``patience`` epochs after its best; else it ran to the maximum
        last = s.best_epoch + CONFIG.patience if s.stopped_early else CONFIG.epochs
        assert s.epochs_run == last
        assert (s.epochs_run, s.best_epoch) == (a.epochs_run, a.best_epoch), s.label
        assert len(s.loss_history) == s.epochs_run
        assert s.auc == pytest.approx(a.auc, abs=1e-5)
        assert s.validation_loss == pytest.approx(a.validation_loss, rel=1e-5)


def test_the_best_epochs_weights_are_kept(small_split):
    """A model that never runs out of patience ends at the maximum, yet keeps the weights
    of its best epoch: its validation loss is the best one recorded, and it equals the same
    model trained for exactly ``best_epoch`` fixed epochs on the same carved rows."""
    (task,) = _tasks(small_split, activations=("relu",))
    config = TrainConfig.auto(epochs=40, patience=1000, batch_size=128, lr=1e-2)
    (out,) = train_stack([task], config, return_models=True)
    assert out.epochs_run == 40 and not out.stopped_early
    assert 1 <= out.best_epoch < 40  # lr 1e-2 on 1,200 rows overfits well before 40
    (inner,), ((x_val, y_val),) = carve_validation([task], config.validation)
    with torch.no_grad():
        logits = out.model(x_val)[:, 0]
    loss = float(F.binary_cross_entropy_with_logits(logits, y_val))
    assert loss == pytest.approx(out.validation_loss, rel=1e-5)
    fixed = TrainConfig(epochs=out.best_epoch, batch_size=128, lr=1e-2)
    (again,) = train_stack([inner], fixed)
    assert again.auc == pytest.approx(out.auc, abs=1e-6)
    assert again.loss_history == pytest.approx(out.loss_history[: out.best_epoch], rel=1e-5)


def test_fused_and_torch_paths_agree(small_split, monkeypatch):
    tasks = _tasks(small_split)
    fused = train_stack(tasks, CONFIG)
    monkeypatch.setenv("SYMACT_KERNELS", "torch")
    plain = train_stack(tasks, CONFIG)
    assert {o.backend for o in fused} == {"fused"} and {o.backend for o in plain} == {"torch"}
    for f, p in zip(fused, plain, strict=True):
        assert (f.epochs_run, f.best_epoch) == (p.epochs_run, p.best_epoch), f.label
        assert f.auc == pytest.approx(p.auc, abs=1e-4)


def test_validation_rows_come_from_the_training_rows_by_seed(small_split):
    tasks = _tasks(small_split, activations=("relu",), seeds=(42, 42, 7))
    inner, val = carve_validation(tasks, 0.2)
    n = tasks[0].n_train
    assert all(t.n_train + len(v[0]) == n for t, v in zip(inner, val, strict=True))
    assert inner[0].X_train is inner[1].X_train  # one seed, one carved copy
    assert not torch.equal(val[0][0], val[2][0])  # another seed, another part
    train_rows = {tuple(r) for r in np.round(tasks[0].X_train, 5).tolist()}
    for x, _ in val:
        assert all(tuple(r) in train_rows for r in np.round(x.numpy(), 5).tolist())
    assert inner[0].X_eval is tasks[0].X_eval  # the scored rows are untouched


def test_fixed_epochs_keep_the_paper_keys():
    """Fields at their defaults are left out of keys: the paper suite's run keys are those
    computed before early stopping existed (this key was computed then)."""
    suite = make_suite("paper")
    assert suite.train.identity() == {} and not suite.train.early_stopping
    model = ModelSpec(hidden=(64, 32), activation="relu")
    spec = RunSpec(DataSpec(name="spambase"), model, 42, suite.train)
    assert spec.key() == "f5cde0ba44c3a749249115ffe13c585e"
    auto = RunSpec(DataSpec(name="spambase"), model, 42, TrainConfig.auto())
    assert auto.key() != spec.key()
    assert RunSpec.from_dict(auto.to_dict()) == auto


@pytest.mark.parametrize(
    "settings", [{"patience": 0}, {"patience": 1.5}, {"patience": 3, "validation": 1.0}]
)
def test_bad_settings_are_refused(settings):
    with pytest.raises(SettingError):
        TrainConfig(**settings)


def test_too_few_rows_to_carve_are_refused(small_split):
    X_tr, y_tr, X_te, y_te = small_split
    task = TrainTask(X_tr[:2], y_tr[:2], X_te, y_te, ModelSpec(hidden=(4,)), 42)
    with pytest.raises(Exception, match="too few to set"):
        train_stack([task], TrainConfig.auto(batch_size=2))
    assert math.isnan(
        train_stack([_tasks(small_split)[0]], TrainConfig(epochs=1))[0].validation_loss
    )

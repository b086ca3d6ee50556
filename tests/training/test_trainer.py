"""train_stack on real spambase data: results, grouping, progress, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from symact.models import HEAVY, LIGHT
from symact.training import TrainConfig, TrainTask, resolve_device, train_stack


@pytest.mark.slow
def test_light_relu_learns_spambase(spam_split):
    """The protocol's 15 epochs on spambase: the reference gets 0.917 mean accuracy."""
    tasks = [TrainTask(*spam_split, LIGHT, seed=s) for s in (42, 43)]
    outcomes = train_stack(tasks, TrainConfig())
    for o in outcomes:
        assert not o.failed and o.epochs_run == 15 and len(o.loss_history) == 15
        assert o.accuracy > 0.88 and o.auc > 0.93
        assert o.params == 6017 and o.efficiency == pytest.approx(o.auc / np.log10(6017))
        assert o.loss_history[-1] < o.loss_history[0]
        assert o.stack_size == 2 and o.train_seconds == pytest.approx(o.stack_seconds / 2)
    assert outcomes[0].auc != outcomes[1].auc  # different seeds train different models


def test_same_seed_same_result_and_torch_global_rng_untouched(spam_split):
    task = TrainTask(*spam_split, LIGHT.with_activation("gelu"), seed=7, label="gelu")
    torch.manual_seed(0)
    before = torch.rand(3)
    torch.manual_seed(0)
    a = train_stack([task], TrainConfig(epochs=1), return_models=True)[0]
    after = torch.rand(3)
    b = train_stack([task], TrainConfig(epochs=1))[0]
    assert torch.equal(before, after)  # training draws only from the task's own generator
    assert a.auc == b.auc and a.loss_history == b.loss_history and a.label == "gelu"
    # the exported nn.Module reproduces the outcome's accuracy
    probs = a.model.predict_proba(torch.as_tensor(task.X_eval)).numpy()
    assert np.mean((probs > 0.5) == task.y_eval) == a.accuracy


def test_progress_counts_model_epochs(spam_split):
    calls: list[int] = []
    tasks = [TrainTask(*spam_split, LIGHT, seed=s) for s in (1, 2, 3)]
    train_stack(tasks, TrainConfig(epochs=2), progress=calls.append)
    assert calls == [3, 3]


def test_a_one_seed_stack_gathers_once_and_equals_its_models_trained_alone(spam_split):
    """Models of one seed draw the same data order: the stack gathers each batch once and
    shows it to all through a stride-0 view. Each model must still be the one it is alone
    (same rows, same order; a different data order moves the AUC by ~1e-3 after 2 epochs),
    to 1e-5: a stride-0 batch and per-activation slices round differently in a stack."""
    acts = ["relu", "gelu", "mul(x, cos(x))"]
    tasks = [TrainTask(*spam_split, LIGHT.with_activation(a), seed=5) for a in acts]
    for backend, tol in (("auto", 1e-5), ("torch", 1e-5)):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SYMACT_KERNELS", backend)
            together = train_stack(tasks, TrainConfig(epochs=2))
            alone = [train_stack([t], TrainConfig(epochs=2))[0] for t in tasks]
        for a, b in zip(together, alone, strict=True):
            assert a.backend == b.backend == ("fused" if backend == "auto" else "torch")
            assert abs(a.auc - b.auc) < tol, (backend, a.auc, b.auc)
            assert np.allclose(a.loss_history, b.loss_history, rtol=10 * tol, atol=1e-7)
    assert len({o.auc for o in together}) == 3  # three different models, not one


def test_mismatched_stack_is_refused(spam_split):
    a = TrainTask(*spam_split, LIGHT, seed=1)
    b = TrainTask(*spam_split, HEAVY, seed=1)
    with pytest.raises(ValueError, match="plan_jobs"):
        train_stack([a, b])


def test_bad_labels_and_values_are_refused(spam_split):
    X_tr, y_tr, X_te, y_te = spam_split
    with pytest.raises(ValueError, match=r"class indices 0\.\.1"):
        train_stack([TrainTask(X_tr, y_tr * 2, X_te, y_te, LIGHT, 1)])
    with pytest.raises(ValueError, match=r"class indices 0\.\.2"):
        train_stack([TrainTask(X_tr, y_tr * 3, X_te, y_te, LIGHT.with_outputs(3), 1)])
    X_nan = X_tr.copy()
    X_nan[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        train_stack([TrainTask(X_nan, y_tr, X_te, y_te, LIGHT, 1)])
    # 1025 rows leave a last batch of one row, on which BatchNorm cannot train
    with pytest.raises(ValueError, match="last batch of 1 row"):
        train_stack([TrainTask(X_tr[:1025], y_tr[:1025], X_te, y_te, LIGHT, 1)])


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(ValueError, match="'cpu', 'cuda' or 'auto'"):
        resolve_device("tpu")


def test_config_validation():
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match=r"unknown optimizer .sgd.*adam, adamw"):
        TrainConfig(optimizer="sgd")
    with pytest.raises(ValueError, match="weight_decay"):
        TrainConfig(weight_decay=-1.0)


def test_a_model_whose_last_step_leaves_it_non_finite_is_failed(spam_split):
    """A learning rate that throws the weights to ~1e30 in the last (here: only) step gives a
    finite loss during training but non-finite predictions: the run is failed, with why."""
    X_tr, y_tr, X_te, y_te = spam_split
    task = TrainTask(X_tr[:1000], y_tr[:1000], X_te, y_te, LIGHT, seed=1)
    (outcome,) = train_stack([task], TrainConfig(epochs=1, batch_size=1000, lr=1e30))
    assert outcome.failed and "predictions became non-finite" in outcome.failure_reason
    assert np.isnan(outcome.auc) and np.isnan(outcome.accuracy)

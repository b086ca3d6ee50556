"""Train a stack of tasks in one pass and score each on its test split.

:func:`train_stack` is the training stage's entry point: it takes K :class:`TrainTask`
(data split, hidden widths, activation, seed) that share a shape, trains them together on a
:class:`~symact.training.stack.StackedMLP`, and returns one :class:`TrainOutcome` per task, in
the order given. :func:`plan_stacks` decides which tasks of a grid can share a stack.

Data stays in tensors: all distinct training sets of a stack are concatenated once, and each
step gathers every model's batch with one ``index_select`` from per-model permutations.
Models of one stack must have the same number of training rows, so that they take the same
number of steps of the same sizes (the last, partial batch is kept, as ``DataLoader`` with
``drop_last=False``); :func:`plan_stacks` groups by that count. Splits of one dataset with one
test fraction always have the same count, whatever the seed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from symact.models import MLP, param_count
from symact.training.config import TrainConfig
from symact.training.metrics import accuracy, efficiency, roc_auc
from symact.training.stack import StackedMLP, _activation_key, _check_activation

ArrayLike = np.ndarray | Tensor
DEFAULT_CONFIG = TrainConfig()


@dataclass(frozen=True, eq=False)
class TrainTask:
    """One model to train: its data split, hidden widths, activation and seed."""

    X_train: ArrayLike
    y_train: ArrayLike
    X_test: ArrayLike
    y_test: ArrayLike
    widths: tuple[int, ...]
    activation: nn.Module
    seed: int
    label: str = ""

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])


@dataclass(frozen=True)
class TrainOutcome:
    """What one trained model scored on its test split, and how its training went.

    ``train_seconds`` is this model's share of its stack's wall time (stack time / stack size);
    ``stack_seconds`` is the stack's whole training wall time. Metrics are NaN if ``failed``.
    ``loss_history`` holds the mean training loss of each epoch (mean over its batches).
    ``backend`` says how the element-wise work ran: ``"fused"`` C kernels or ``"torch"``.
    """

    label: str
    accuracy: float
    auc: float
    params: int
    efficiency: float
    train_seconds: float
    stack_seconds: float
    stack_size: int
    epochs_run: int
    final_loss: float
    failed: bool
    failure_reason: str | None
    loss_history: tuple[float, ...]
    backend: str = "torch"
    model: MLP | None = field(default=None, compare=False, repr=False)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when present, else CPU; ``"cuda"`` without a GPU is an error."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available; use 'cpu'")
    if not (name == "cpu" or name.startswith("cuda")):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    return torch.device(name)


def plan_stacks(
    tasks: Sequence[TrainTask],
    *,
    max_stack: int = 64,
    memory_budget_bytes: int = 512 * 2**20,
    batch_size: int = 1024,
    group_by_activation: bool = False,
    group_by_seed: bool = False,
) -> list[list[int]]:
    """Group task indices into stacks that :func:`train_stack` can train together.

    Tasks share a stack when they have the same widths, feature count and training-row count.
    Within a stack, tasks with the same activation are placed next to each other (one
    activation call per run of them). A stack holds at most ``max_stack`` models and at most
    what fits the per-step activation memory budget. With ``group_by_activation`` each stack
    also has a single activation. benchmarks/bench_training.py measures both on the covertype
    grid (2 cores): mixed 30.9 s vs grouped 30.2 s in the final run, 32.1 vs 41.7 s in an
    earlier one (before remainder models left ``bmm``). They are on par; mixed stays the default
    because it makes fewer, larger stacks. With ``group_by_seed`` each stack holds one seed:
    models of one seed draw the same data order, so such a stack gathers each batch once
    for all its models (:func:`train_stack`); the runner uses it for long CPU trainings.
    """
    groups: dict[tuple, list[int]] = {}
    act_order: dict[tuple, int] = {}
    for i, t in enumerate(tasks):
        key = (tuple(t.widths), t.n_features, t.n_train)
        act = _activation_key(t.activation)
        act_order.setdefault(act, len(act_order))
        if group_by_activation:
            key = (*key, act)
        if group_by_seed:
            key = (*key, ("seed", t.seed))
        groups.setdefault(key, []).append(i)
    stacks: list[list[int]] = []
    for (widths, n_features, _n_train, *_), members in groups.items():
        members.sort(key=lambda i: (act_order[_activation_key(tasks[i].activation)], i))
        # floats kept per model and step: inputs plus ~8 tensors of each hidden width
        per_model = 4 * batch_size * (n_features + 8 * sum(widths))
        cap = max(1, min(max_stack, memory_budget_bytes // per_model))
        n_chunks = -(-len(members) // cap)
        size = -(-len(members) // n_chunks)  # even chunks
        stacks += [members[j : j + size] for j in range(0, len(members), size)]
    return stacks


def _as_tensor(a: ArrayLike, dtype: torch.dtype, what: str) -> Tensor:
    t = torch.as_tensor(np.asarray(a) if not isinstance(a, Tensor) else a)
    if not t.is_floating_point() and dtype.is_floating_point:
        t = t.to(dtype)
    t = t.to(dtype).contiguous()
    if dtype.is_floating_point and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{what} holds NaN or inf values; clean or impute the data first")
    return t


def _check_tasks(tasks: Sequence[TrainTask]) -> None:
    if not tasks:
        raise ValueError("train_stack needs at least one task")
    first = tasks[0]
    for i, t in enumerate(tasks):
        _check_activation(t.activation)
        if t.X_train.ndim != 2 or t.X_test.ndim != 2:
            raise ValueError(f"task {i} ({t.label!r}): X_train and X_test must be 2-D")
        if len(t.y_train) != t.n_train or len(t.y_test) != len(t.X_test):
            raise ValueError(f"task {i} ({t.label!r}): X and y row counts differ")
        if t.X_test.shape[1] != t.n_features:
            raise ValueError(f"task {i} ({t.label!r}): X_train and X_test feature counts differ")
        if (tuple(t.widths), t.n_features, t.n_train) != (
            tuple(first.widths),
            first.n_features,
            first.n_train,
        ):
            raise ValueError(
                "all tasks of one stack need the same widths, feature count and training-row "
                f"count; task {i} ({t.label!r}) has {tuple(t.widths)}, {t.n_features}, "
                f"{t.n_train} but task 0 has {tuple(first.widths)}, {first.n_features}, "
                f"{first.n_train}. Group tasks with plan_stacks()."
            )
        for name, y in (("y_train", t.y_train), ("y_test", t.y_test)):
            values = np.unique(np.asarray(y))
            if not np.all(np.isin(values, (0, 1))):
                raise ValueError(
                    f"task {i} ({t.label!r}): {name} must hold 0/1 labels, found {values[:5]}"
                )


def _training_data(tasks: Sequence[TrainTask], device: torch.device):
    """One tensor with every distinct training set, and each task's row offset into it."""
    offsets, xs, ys, seen = [], [], [], {}
    total = 0
    for t in tasks:
        key = id(t.X_train)
        if key not in seen:
            seen[key] = total
            xs.append(_as_tensor(t.X_train, torch.float32, "X_train"))
            ys.append(_as_tensor(t.y_train, torch.float32, "y_train"))
            total += t.n_train
        offsets.append(seen[key])
    x_all = torch.cat(xs).to(device) if len(xs) > 1 else xs[0].to(device)
    y_all = torch.cat(ys).to(device) if len(ys) > 1 else ys[0].to(device)
    return x_all, y_all, torch.tensor(offsets, dtype=torch.int64)


def train_stack(
    tasks: Sequence[TrainTask],
    config: TrainConfig = DEFAULT_CONFIG,
    device: str | torch.device = "cpu",
    progress: Callable[[int], None] | None = None,
    *,
    return_models: bool = False,
    threads: int | None = None,
) -> list[TrainOutcome]:
    """Train all tasks together (same widths, feature and row counts) and evaluate each.

    ``progress(n)`` is called after every epoch with ``n`` = the number of model-epochs just
    finished (the stack size), so a progress bar over ``len(all tasks) * epochs`` advances
    smoothly across stacks. ``threads`` sets torch's intra-op threads for this call (default:
    leave torch's setting, which is the core count). ``return_models`` attaches each trained
    model as a :class:`symact.models.MLP` in eval mode.
    """
    _check_tasks(tasks)
    dev = resolve_device(device)
    batch = config.batch_size
    n_train = tasks[0].n_train
    if n_train % batch == 1:
        raise ValueError(
            f"{n_train} training rows leave a last batch of 1 row with batch_size {batch}; "
            "BatchNorm cannot train on it (PyTorch raises too). Change batch_size or rows."
        )
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _train(tasks, config, dev, progress, return_models)
    finally:
        torch.set_num_threads(old_threads)


def _train(tasks, config, dev, progress, return_models) -> list[TrainOutcome]:
    k = len(tasks)
    first = tasks[0]
    n_train, batch = first.n_train, config.batch_size
    start = time.perf_counter()
    stack = StackedMLP(
        first.n_features,
        first.widths,
        [t.activation for t in tasks],
        [t.seed for t in tasks],
        config,
        dev,
    )
    x_all, y_all, offsets = _training_data(tasks, dev)
    n_steps = -(-n_train // batch)
    history = torch.zeros(config.epochs, k, dtype=torch.float64)
    failures: dict[int, tuple[str, int]] = {}
    x_buf = torch.empty(k * batch, first.n_features, device=dev)
    y_buf = torch.empty(k * batch, device=dev)
    gather = stack.kernels[0].common.symact_gather if stack.kernels is not None else None
    x_all, y_all = x_all.contiguous(), y_all.contiguous()
    x_ptr, y_ptr, d = x_all.data_ptr(), y_all.data_ptr(), x_all.shape[1]
    buf_ptrs = (x_buf.data_ptr(), y_buf.data_ptr())
    views: dict[tuple, tuple[Tensor, Tensor]] = {}  # batch views by (rows, shared)
    gathered, shared = k, False

    def _batch_views(rows: int) -> tuple[Tensor, Tensor]:
        """x_buf and y_buf as this step's [K, rows, d] and [K, rows, 1] batches; stride-0
        over the models when they share one gathered batch."""
        xb = x_buf[: gathered * rows].view(gathered, rows, d)
        yb = y_buf[: gathered * rows].view(gathered, rows, 1)
        return (xb.expand(k, -1, -1), yb.expand(k, -1, -1)) if shared else (xb, yb)

    with torch.no_grad():
        for epoch in range(config.epochs):
            perms = torch.stack([torch.randperm(n_train, generator=g) for g in stack.generators])
            perms = (perms + offsets[:, None]).to(dev)
            # models of one seed (same data, same generator draws) share their data order:
            # then each batch is gathered once and seen by all through a stride-0 view
            shared = k > 1 and bool((perms == perms[:1]).all())
            gathered = 1 if shared else k
            loss_sum = torch.zeros(k, dtype=torch.float64, device=dev)
            perms = perms[:gathered].contiguous()
            for step in range(n_steps):
                rows = min(batch, n_train - step * batch)
                key = (rows, shared)
                xb, yb = views[key] if key in views else views.setdefault(key, _batch_views(rows))
                if gather is not None:  # the fused kernels' index_select (common.c)
                    idx_ptr = perms.data_ptr() + 8 * step * batch  # int64 entries
                    gather(gathered, rows, d, x_ptr, y_ptr, idx_ptr, n_train, *buf_ptrs)
                else:
                    flat_idx = perms[:, step * batch : step * batch + rows].reshape(-1)
                    torch.index_select(x_all, 0, flat_idx, out=x_buf[: gathered * rows])
                    torch.index_select(y_all, 0, flat_idx, out=y_buf[: gathered * rows])
                losses = stack.train_step(xb, yb)
                loss_sum += losses
                if stack.losses_finite is False or (
                    stack.losses_finite is None and not bool(torch.isfinite(losses).all())
                ):
                    for j in torch.nonzero(~torch.isfinite(losses)).flatten().tolist():
                        if stack.alive[j]:
                            value = float(losses[j])
                            why = f"loss became {value} at epoch {epoch + 1} step {step + 1}"
                            failures[j] = (why, epoch + 1)
                            stack.freeze(j)
                stack.zero_frozen_grads()
                for j in stack.nonfinite_grad_models():
                    why = f"gradient became non-finite at epoch {epoch + 1} step {step + 1}"
                    failures[j] = (why, epoch + 1)
                    stack.freeze(j)
                stack.adam_step()
            history[epoch] = (loss_sum / n_steps).cpu()
            if progress is not None:
                progress(k)
    stack_seconds = time.perf_counter() - start
    return [
        _outcome(stack, j, tasks[j], history[:, j], failures.get(j), stack_seconds, return_models)
        for j in range(k)
    ]


def _outcome(stack, j, task, history, failure, stack_seconds, return_model) -> TrainOutcome:
    k = stack.k
    params = param_count(task.n_features, task.widths)
    epochs_run = failure[1] if failure else len(history)
    losses = tuple(float(v) for v in history[:epochs_run])
    if failure:
        acc = auc = eff = math.nan
    else:
        x_test = _as_tensor(task.X_test, torch.float32, "X_test").to(stack.device)
        probs = torch.sigmoid(stack.predict_logits(j, x_test)).cpu().numpy()
        y_test = np.asarray(task.y_test).ravel()
        acc, auc = accuracy(y_test, probs), roc_auc(y_test, probs)
        eff = efficiency(auc, params)
    model = None
    if return_model:
        model = _export(stack, j, task)
    return TrainOutcome(
        label=task.label,
        accuracy=acc,
        auc=auc,
        params=params,
        efficiency=eff,
        train_seconds=stack_seconds / k,
        stack_seconds=stack_seconds,
        stack_size=k,
        epochs_run=epochs_run,
        final_loss=losses[-1] if losses else math.nan,
        failed=failure is not None,
        failure_reason=failure[0] if failure else None,
        loss_history=losses,
        backend=stack.backend,
        model=model,
    )


def _export(stack: StackedMLP, j: int, task: TrainTask) -> MLP:
    cfg = stack.config
    with torch.random.fork_rng(devices=[]):  # MLP's own init must not move the global RNG
        mlp = MLP(
            task.n_features,
            task.widths,
            task.activation,
            cfg.dropout,
            bn_eps=cfg.bn_eps,
            bn_momentum=cfg.bn_momentum,
        )
    state = mlp.state_dict()
    state.update(stack.state_dict(j))
    mlp.load_state_dict(state)
    return mlp.eval()

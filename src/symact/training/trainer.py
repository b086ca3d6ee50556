"""Train a stack of tasks in one pass and score each on the rows it is judged on.

:func:`train_stack` is the training stage's entry point: it takes K :class:`TrainTask`
(data, a :class:`~symact.models.ModelSpec`, a seed) whose networks share a structure, trains
them together on a :class:`~symact.training.stack.StackedModel`, and returns one
:class:`TrainOutcome` per task, in the order given. Tasks share a stack where
:func:`stack_key` agrees; ``symact.experiments.runner.plan_jobs`` plans a grid's stacks.

Data stays in tensors: all distinct training sets of a stack are concatenated once, and each
step gathers every model's batch from per-model permutations. Models of one stack must
have the same number of training rows, so that they take the same number of steps of the
same sizes (the last, partial batch is kept, as ``DataLoader`` with ``drop_last=False``);
:func:`stack_key` includes that count. Models with one seed and one training set draw
the same data order, so their batches are gathered once (a stride-0 view for all of them).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
from torch import Tensor, nn

from symact.data.errors import DataError
from symact.errors import SettingError
from symact.models.network import Network
from symact.models.spec import ModelSpec
from symact.training.config import TrainConfig
from symact.training.metrics import accuracy, efficiency, roc_auc
from symact.training.stack import ModelActivation, StackedModel

ArrayLike = np.ndarray | Tensor
DEFAULT_CONFIG = TrainConfig()


@dataclass(frozen=True, eq=False)
class TrainTask:
    """One model to train: its data, network, seed, and the rows it is scored on.

    ``X_eval, y_eval`` are the rows it is judged on (a test part, or a validation part
    during a search). Labels are 0/1 for a one-logit network, class indices otherwise.
    ``activation`` overrides the spec's activation with any element-wise module (such a
    module trains on the torch path unless it is a formula).
    """

    X_train: ArrayLike
    y_train: ArrayLike
    X_eval: ArrayLike
    y_eval: ArrayLike
    model: ModelSpec
    seed: int
    label: str = ""
    activation: nn.Module | None = None

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])


@dataclass(frozen=True)
class TrainOutcome:
    """What one trained model scored, and how its training went.

    ``train_seconds`` is this model's share of its stack's wall time (stack time / stack size);
    ``stack_seconds`` is the stack's whole training wall time. Metrics are NaN if ``failed``.
    ``loss_history`` holds the mean training loss of each epoch (mean over its batches).
    ``learned_formulas``: with learnable constants, the activation of each hidden layer with
    its trained constants (canonical prefix text). ``backend``: ``"fused"`` or ``"torch"``.
    With early stopping (``TrainConfig.patience``), ``best_epoch`` is the epoch whose weights
    the model keeps (lowest validation loss, ``validation_loss``) and ``stopped_early`` says
    it stopped before the maximum; without, ``best_epoch`` is 0.
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
    learned_formulas: tuple[str, ...] = ()
    best_epoch: int = 0
    stopped_early: bool = False
    validation_loss: float = math.nan
    model: Network | None = field(default=None, compare=False, repr=False)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when present, else CPU; ``"cuda"`` without a GPU is an error."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SettingError("device 'cuda' was asked for but no CUDA GPU is available; use 'cpu'")
    if not (name == "cpu" or name.startswith("cuda")):
        raise SettingError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    return torch.device(name)


def stack_key(task: TrainTask) -> tuple:
    """What tasks of one stack share: network structure, feature and training-row counts."""
    return (task.model.structure(), task.n_features, task.n_train)


def _as_tensor(a: ArrayLike, dtype: torch.dtype, what: str) -> Tensor:
    if not isinstance(a, Tensor):
        a = np.asarray(a)
        if not a.flags.writeable:  # a DataFrame's values under copy-on-write: torch
            a = a.copy()  # would warn, and share memory it may not write
    t = torch.as_tensor(a)
    t = t.to(dtype).contiguous()
    if dtype.is_floating_point and not bool(torch.isfinite(t).all()):
        raise DataError(f"{what} holds NaN or inf values; clean or impute the data first")
    return t


def _check_tasks(tasks: Sequence[TrainTask]) -> None:
    if not tasks:
        raise ValueError("train_stack needs at least one task")
    first = tasks[0]
    for i, t in enumerate(tasks):
        if not isinstance(t.model, ModelSpec):
            raise TypeError(f"task {i} ({t.label!r}): model must be a ModelSpec")
        if t.X_train.ndim != 2 or t.X_eval.ndim != 2:
            raise ValueError(f"task {i} ({t.label!r}): X_train and X_eval must be 2-D")
        if len(t.y_train) != t.n_train or len(t.y_eval) != len(t.X_eval):
            raise ValueError(f"task {i} ({t.label!r}): X and y row counts differ")
        if t.X_eval.shape[1] != t.n_features:
            raise ValueError(f"task {i} ({t.label!r}): X_train and X_eval feature counts differ")
        if stack_key(t) != stack_key(first):
            raise ValueError(
                "all tasks of one stack need the same network structure, feature count and "
                f"training-row count; task {i} ({t.label!r}) has {stack_key(t)} but task 0 "
                f"has {stack_key(first)}. Group tasks by stack_key() (runner.plan_jobs does)."
            )
        n_classes = max(2, t.model.n_outputs)
        for name, y in (("y_train", t.y_train), ("y_eval", t.y_eval)):
            values = np.unique(np.asarray(y))
            if not np.all(np.isin(values, np.arange(n_classes))):
                raise ValueError(
                    f"task {i} ({t.label!r}): {name} must hold class indices 0..{n_classes - 1} "
                    f"for a network with {t.model.n_outputs} output(s), found {values[:5]}"
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
    return x_all.contiguous(), y_all.contiguous(), torch.tensor(offsets, dtype=torch.int64)


def train_stack(
    tasks: Sequence[TrainTask],
    config: TrainConfig = DEFAULT_CONFIG,
    device: str | torch.device = "cpu",
    progress: Callable[[int], None] | None = None,
    *,
    return_models: bool = False,
    threads: int | None = None,
) -> list[TrainOutcome]:
    """Train all tasks together (one structure, feature and row count) and score each.

    ``progress(n)`` is called after every epoch with ``n`` = the number of model-epochs just
    finished (the stack size), so a progress bar over ``len(all tasks) * epochs`` advances
    smoothly across stacks. ``threads`` sets torch's intra-op threads for this call (default:
    leave torch's setting, which is the core count). ``return_models`` attaches each trained
    model as a :class:`~symact.models.Network` in eval mode.
    """
    _check_tasks(tasks)
    dev = resolve_device(device)
    batch = config.batch_size
    validation = None
    if config.early_stopping:
        tasks, validation = carve_validation(tasks, config.validation)
    n_train = tasks[0].n_train
    if n_train % batch == 1 and tasks[0].model.norm == "batchnorm":
        raise ValueError(
            f"{n_train} training rows leave a last batch of 1 row with batch_size {batch}; "
            "BatchNorm cannot train on it (PyTorch raises too). Change batch_size or rows."
        )
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _train(tasks, config, dev, progress, return_models, validation)
    finally:
        torch.set_num_threads(old_threads)


def carve_validation(
    tasks: Sequence[TrainTask], share: float
) -> tuple[list[TrainTask], list[tuple[Tensor, Tensor]]]:
    """Each task with its training rows less a validation part, and that part (``X, y``).

    The part is ``round(share * n_train)`` rows drawn from the task's own seed (a NumPy
    generator apart from the model's torch generator, so its initial weights are unchanged),
    so a model's split is the same alone or in any stack; its scored rows are never touched.
    Tasks with the same training arrays and seed share the carved arrays (one copy in the
    stack's data, one gathered batch).
    """
    n = tasks[0].n_train
    n_val = round(share * n)
    if n_val < 1 or n - n_val < 2:
        raise DataError(
            f"{n} training rows are too few to set {share:.0%} aside for early stopping; "
            "use more rows or fixed epochs"
        )
    carved: dict[tuple[int, int], tuple[Tensor, Tensor, Tensor, Tensor]] = {}
    out_tasks, out_val = [], []
    for t in tasks:
        key = (id(t.X_train), int(t.seed))
        if key not in carved:
            order = np.random.default_rng([int(t.seed), 0x5EED]).permutation(n)
            val, train = torch.from_numpy(order[:n_val]), torch.from_numpy(np.sort(order[n_val:]))
            x = _as_tensor(t.X_train, torch.float32, "X_train")
            y = _as_tensor(t.y_train, torch.float32, "y_train")
            carved[key] = (x[train], y[train], x[val], y[val])
        x_in, y_in, x_val, y_val = carved[key]
        out_tasks.append(dataclasses.replace(t, X_train=x_in, y_train=y_in))
        out_val.append((x_val, y_val))
    return out_tasks, out_val


@dataclass
class _EarlyStopping:
    """Each model's best validation loss, its epoch and weights, and when it stopped.

    A stopped model is frozen in the stack (``StackedModel.freeze``: no further update) while
    the others train on; the best weights (parameters and BatchNorm statistics) are kept in
    a copy of the state's tensors and written back by :meth:`restore`.
    """

    stack: StackedModel
    x_val: Tensor  # [K or 1, n_val, d]
    y_val: Tensor  # [K or 1, n_val, 1]
    patience: int
    best_loss: Tensor = field(init=False)
    best_epoch: list[int] = field(init=False)
    stopped_at: list[int | None] = field(init=False)

    def __post_init__(self) -> None:
        k = self.stack.k
        self.best_loss = torch.full((k,), math.inf, dtype=torch.float64)
        self.best_epoch = [0] * k
        self.stopped_at = [None] * k
        state = self.stack.state
        self._best = state.flat.clone()
        stats = state.running_stats()
        saved = [t.clone() for t in stats]
        # every tensor as [K, per-model elements]: a masked copy is one `where` per tensor
        self._live = [*self.stack.structure.per_model(state.flat), *(t.view(k, -1) for t in stats)]
        self._kept = [*self.stack.structure.per_model(self._best), *(t.view(k, -1) for t in saved)]

    def after_epoch(self, epoch: int) -> bool:
        """Score every training model on its validation rows after epoch ``epoch`` (from 1),
        keep the improved ones' weights, freeze the ones out of patience; True when no model
        trains any more."""
        s = self.stack
        losses = s.validation_losses(self.x_val, self.y_val).double().cpu()
        alive = torch.tensor(s.state.alive)
        better = alive & (losses < self.best_loss)
        if bool(better.any()):
            self.best_loss = torch.where(better, losses, self.best_loss)
            for j in torch.nonzero(better).flatten().tolist():
                self.best_epoch[j] = epoch
            self._copy(better, self._live, self._kept)
        stale = alive & (epoch - torch.tensor(self.best_epoch) >= self.patience)
        for j in torch.nonzero(stale).flatten().tolist():
            self.stopped_at[j] = epoch
            s.freeze(j)
        return not any(s.state.alive)

    def restore(self) -> None:
        """Write each model's best weights back into the stack (models never scored better
        than infinity, a failed one, keep theirs)."""
        kept = torch.tensor([epoch > 0 for epoch in self.best_epoch])
        if bool(kept.any()):
            self._copy(kept, self._kept, self._live)

    def _copy(self, models: Tensor, src: list[Tensor], dst: list[Tensor]) -> None:
        """The given models' (a ``[K]`` mask) rows of ``src`` into ``dst`` (``[K, m]`` views
        of the parameters' flat buffer and of the running statistics), in place; a plain
        copy when every model is given (the common case while models still improve)."""
        if bool(models.all()):
            for s, d in zip(src, dst, strict=True):
                d.copy_(s)
            return
        mask = models.to(self.stack.device).view(-1, 1)
        for s, d in zip(src, dst, strict=True):
            torch.where(mask, s, d, out=d)


def _validation_tensors(validation, dev) -> tuple[Tensor, Tensor]:
    """The models' validation rows as ``[K, n, d]`` and ``[K, n, 1]`` (``[1, ...]`` when
    every model has the same rows)."""
    xs, ys = zip(*validation, strict=True)
    if all(x is xs[0] for x in xs):
        xs, ys = xs[:1], ys[:1]
    return torch.stack(xs).to(dev), torch.stack(ys).to(dev).unsqueeze(2)


def _train(tasks, config, dev, progress, return_models, validation=None) -> list[TrainOutcome]:
    k = len(tasks)
    first = tasks[0]
    n_train, batch = first.n_train, config.batch_size
    start = time.perf_counter()
    stack = StackedModel(
        [t.model for t in tasks],
        first.n_features,
        [t.seed for t in tasks],
        config,
        dev,
        activations=[t.activation for t in tasks],
    )
    x_all, y_all, offsets = _training_data(tasks, dev)
    n_steps = -(-n_train // batch)
    history = torch.zeros(config.epochs, k, dtype=torch.float64)
    failures: dict[int, tuple[str, int]] = {}
    d = x_all.shape[1]
    x_buf = torch.empty(k * batch, d, device=dev)
    y_buf = torch.empty(k * batch, device=dev)
    views: dict[tuple, tuple[Tensor, Tensor]] = {}  # batch views by (rows, shared)
    gathered, shared = k, False
    stopping = None
    if validation is not None:
        x_val, y_val = _validation_tensors(validation, dev)
        stopping = _EarlyStopping(stack, x_val, y_val, config.patience)
    epochs_done = 0

    def batch_views(rows: int) -> tuple[Tensor, Tensor]:
        """x_buf and y_buf as this step's [K, rows, d] and [K, rows, 1] batches; stride-0
        over the models when they share one gathered batch."""
        xb = x_buf[: gathered * rows].view(gathered, rows, d)
        yb = y_buf[: gathered * rows].view(gathered, rows, 1)
        return (xb.expand(k, -1, -1), yb.expand(k, -1, -1)) if shared else (xb, yb)

    with torch.no_grad():
        for epoch in range(config.epochs):
            perms = torch.stack(
                [torch.randperm(n_train, generator=g) for g in stack.state.generators]
            )
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
                xb, yb = views[key] if key in views else views.setdefault(key, batch_views(rows))
                stack.gather(perms, step * batch, rows, x_all, y_all, x_buf, y_buf)
                losses = stack.train_step(xb, yb)
                loss_sum += losses
                if not stack.losses_finite(losses):
                    for j in torch.nonzero(~torch.isfinite(losses)).flatten().tolist():
                        if stack.state.alive[j]:
                            value = float(losses[j])
                            why = f"loss became {value} at epoch {epoch + 1} step {step + 1}"
                            failures[j] = (why, epoch + 1)
                            stack.freeze(j)
                stack.zero_frozen_grads()
                for j in stack.nonfinite_grad_models():
                    why = f"gradient became non-finite at epoch {epoch + 1} step {step + 1}"
                    failures[j] = (why, epoch + 1)
                    stack.freeze(j)
                stack.optimizer_step()
            history[epoch] = (loss_sum / n_steps).cpu()
            epochs_done = epoch + 1
            if progress is not None:
                progress(k)
            if stopping is not None and stopping.after_epoch(epochs_done):
                break
        if stopping is not None:
            stopping.restore()
            if progress is not None and epochs_done < config.epochs:  # bars count the maximum
                progress(k * (config.epochs - epochs_done))
    stack_seconds = time.perf_counter() - start
    cache: dict[int, Tensor] = {}  # scored rows as tensors, once per distinct array
    finish = partial(_outcome, stack, stack_seconds=stack_seconds, export_model=return_models)
    outcomes = []
    for j in range(k):
        stopped = stopping.stopped_at[j] if stopping is not None else None
        ran = history[: stopped or epochs_done, j]
        outcome = finish(j, tasks[j], ran, failures.get(j), cache)
        if stopping is not None and not outcome.failed:
            best = stopping.best_epoch[j]
            outcome = dataclasses.replace(
                outcome,
                best_epoch=best,
                stopped_early=stopped is not None,
                validation_loss=float(stopping.best_loss[j]),
            )
        outcomes.append(outcome)
    return outcomes


def predict_proba(stack: StackedModel, j: int, x: Tensor) -> np.ndarray:
    """Model j's probabilities: ``[n]`` of class 1 for one logit, ``[n, C]`` otherwise."""
    logits = stack.predict_logits(j, x)
    if logits.shape[1] == 1:
        return torch.sigmoid(logits[:, 0]).cpu().numpy()
    return torch.softmax(logits, dim=1).cpu().numpy()


def _outcome(stack, j, task, history, failure, cache, *, stack_seconds, export_model):
    params = task.model.param_count(task.n_features)
    epochs_run = failure[1] if failure else len(history)
    losses = tuple(float(v) for v in history[:epochs_run])
    if failure:
        acc = auc = eff = math.nan
    else:
        key = id(task.X_eval)
        if key not in cache:
            cache[key] = _as_tensor(task.X_eval, torch.float32, "X_eval").to(stack.device)
        probs = predict_proba(stack, j, cache[key])
        if not np.all(np.isfinite(probs)):  # the last step left the weights non-finite
            failure = (f"predictions became non-finite after epoch {epochs_run}", epochs_run)
            acc = auc = eff = math.nan
        else:
            y_eval = np.asarray(task.y_eval).ravel()
            acc, auc = accuracy(y_eval, probs), roc_auc(y_eval, probs)
            eff = efficiency(auc, params)
    return TrainOutcome(
        label=task.label,
        accuracy=acc,
        auc=auc,
        params=params,
        efficiency=eff,
        train_seconds=stack_seconds / stack.k,
        stack_seconds=stack_seconds,
        stack_size=stack.k,
        epochs_run=epochs_run,
        final_loss=losses[-1] if losses else math.nan,
        failed=failure is not None,
        failure_reason=failure[0] if failure else None,
        loss_history=losses,
        backend=stack.backend,
        learned_formulas=stack.learned_formulas(j),
        model=export(stack, j, task.activation) if export_model else None,
    )


def export(stack: StackedModel, j: int, activation: nn.Module | None = None) -> Network:
    """Model j of a stack as a :class:`Network` in eval mode (``ModelSpec.to_module``'s
    layout, the stack's parameters and BatchNorm statistics loaded into it)."""
    with torch.random.fork_rng(devices=[]):  # the module's own init must not move the RNG
        net = Network(stack.spec, stack.n_features, activation or stack.acts[j].module)
    state, theirs = net.state_dict(), stack.state_dict(j)
    expected = {key for key in state if not key.endswith("_extra_state")}
    if expected != set(theirs):
        raise RuntimeError(
            "ModelSpec.layout and the module disagree: the module has "
            f"{sorted(expected - set(theirs))} the stack lacks, the stack "
            f"{sorted(set(theirs) - expected)}"
        )
    state.update(theirs)
    net.load_state_dict(state)
    return net.eval()


__all__ = [
    "ModelActivation",
    "TrainOutcome",
    "TrainTask",
    "carve_validation",
    "export",
    "predict_proba",
    "resolve_device",
    "stack_key",
    "train_stack",
]

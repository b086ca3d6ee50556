"""``SymbolicMLPClassifier``: a symact network as a scikit-learn classifier.

Tabular work is composed of scikit-learn pieces (``Pipeline``, ``cross_val_score``,
``GridSearchCV``); this estimator lets a symact network take part. It is a thin edge: inputs
are checked here the scikit-learn way (``validate_data``), standardized with statistics of
``fit``'s rows (as the benchmark's split does), and the network is trained by the training
stage's public entry point, :func:`symact.training.train_stack`, on one
:class:`~symact.training.TrainTask`, so a fit trains exactly what ``symact benchmark`` trains
for the same :class:`~symact.models.ModelSpec`, :class:`~symact.training.TrainConfig` and seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from symact.models import ModelSpec
from symact.training.config import TrainConfig


def _seed(random_state: Any) -> int:
    """The training seed: ``None`` is seed 0 (symact draws nothing without an explicit seed),
    an int is itself, a ``RandomState`` gives one draw."""
    if random_state is None:
        return 0
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    return int(random_state)


def _batch_size(n_rows: int, batch_size: int) -> int:
    """``batch_size`` (at most the row count), made smaller where the last batch would hold
    one row: BatchNorm cannot train on a single row."""
    b = max(2, min(batch_size, n_rows))
    while n_rows % b == 1 and b > 2:
        b -= 1
    return b


class SymbolicMLPClassifier(ClassifierMixin, BaseEstimator):
    """A symact MLP (``Linear -> BatchNorm -> activation -> Dropout`` per hidden layer) as a
    scikit-learn classifier, binary (one logit) or multi-class (softmax).

    Args:
        activation: a name (``"relu"``, ``"gelu"``, ``"silu"``, ...) or formula text over
            ``x`` (``"x*cos(x)"``).
        hidden: the hidden widths (the paper's Light network is ``(64, 32)``).
        epochs, batch_size, lr, optimizer, weight_decay: :class:`~symact.training.TrainConfig`.
        dropout, norm: :class:`~symact.models.ModelSpec`'s.
        learnable_constants: every constant of a formula activation becomes a parameter.
        random_state: the seed of initialization, data order and dropout; ``None`` is 0.
        threads: torch's intra-op threads while fitting (default: torch's setting).

    Attributes (after ``fit``): ``classes_``, ``n_features_in_``, ``feature_names_in_`` (for a
    DataFrame with string column names), ``scaler_`` (the standardization fitted on ``fit``'s
    rows), ``model_spec_``, ``network_`` (a :class:`~symact.models.Network` in eval mode, float64),
    ``outcome_`` (the training stage's :class:`~symact.training.TrainOutcome`),
    ``learned_formulas_`` (with learnable constants: each hidden layer's activation).
    """

    def __init__(
        self,
        activation: str = "relu",
        hidden: tuple[int, ...] = (64, 32),
        epochs: int = 15,
        batch_size: int = 1024,
        lr: float = 1e-3,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        dropout: float = 0.3,
        norm: str = "batchnorm",
        learnable_constants: bool = False,
        random_state: Any = None,
        threads: int | None = None,
    ) -> None:
        self.activation = activation
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.norm = norm
        self.learnable_constants = learnable_constants
        self.random_state = random_state
        self.threads = threads

    def _model_spec(self, n_classes: int) -> ModelSpec:
        return ModelSpec(
            hidden=tuple(self.hidden),
            activation=self.activation,
            norm=self.norm,
            dropout=self.dropout,
            learnable_constants=self.learnable_constants,
        ).with_outputs(n_classes)

    def fit(self, X: Any, y: Any) -> SymbolicMLPClassifier:
        """Standardize with ``X``'s statistics and train the network on all of ``X``."""
        from symact.training import TrainTask, train_stack

        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"SymbolicMLPClassifier needs at least 2 classes in y, got 1 class "
                f"({self.classes_[0]!r})"
            )
        spec = self._model_spec(len(self.classes_))
        config = TrainConfig(
            epochs=self.epochs,
            batch_size=_batch_size(len(X), self.batch_size),
            optimizer=self.optimizer,
            lr=self.lr,
            weight_decay=self.weight_decay,
        )
        self.scaler_ = StandardScaler().fit(X)
        Xs = self.scaler_.transform(X).astype(np.float32)
        y_codes = codes.astype(np.int64)
        # scored on its own training rows: outcome_ reports training accuracy and AUC
        task = TrainTask(Xs, y_codes, Xs, y_codes, spec, _seed(self.random_state))
        (outcome,) = train_stack([task], config, "cpu", return_models=True, threads=self.threads)
        if outcome.failed:
            raise ValueError(f"training failed: {outcome.failure_reason}")
        self.model_spec_ = spec
        # predictions in float64: float32 matrix products round differently with the batch's
        # row count, and a row's prediction must not depend on which rows come with it
        self.network_ = outcome.model.double()
        self.outcome_ = outcome
        self.learned_formulas_ = outcome.learned_formulas
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """The network's logits: ``[n]`` for two classes (positive class), else ``[n, C]``."""
        import torch

        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        Xs = torch.from_numpy(self.scaler_.transform(X))
        with torch.no_grad():
            logits = self.network_(Xs).numpy()
        return logits[:, 0] if logits.shape[1] == 1 else logits

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``[n, C]`` in the order of ``classes_``."""
        from scipy.special import expit, softmax

        scores = self.decision_function(X)
        if scores.ndim == 1:
            p = expit(scores)
            return np.stack([1.0 - p, p], axis=1)
        return softmax(scores, axis=1)

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags

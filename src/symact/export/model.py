"""A trained network as files: PyTorch, ONNX, and a model card, with its preprocessing.

A symact network reads standardized float features, so a network alone cannot score a new
CSV: the exported model carries the :class:`Preprocessing` fitted on its training rows
(the encoding of each input column, the imputation values and the standardization, the same
numbers the run's split computed) and applies it before the network. ``model.pt`` holds the
module itself (``torch.save``: it loads with :class:`~symact.formula.SymbolicActivation` and
its learned constants), its state dict, the preprocessing and the card; ``model.onnx`` holds
the same network (standardized features in, logits and probabilities out) with the
preprocessing as JSON metadata; ``model_card.json`` and ``model_card.md`` say what it is.
"""

from __future__ import annotations

import copy
import io
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from symact.data.errors import DataError
from symact.data.missing import indicator_name
from symact.formula.activation import SymbolicActivation
from symact.models import ModelSpec
from symact.models.network import Network

FORMAT = "symact-model/1"
MODEL_FILE = "model.pt"
ONNX_FILE = "model.onnx"
CARD_JSON = "model_card.json"
CARD_MD = "model_card.md"
#: ONNX opset: 17 has every operator of the formula table (Erf, Softplus, Tan, ...).
OPSET = 17


@dataclass(frozen=True)
class Feature:
    """How one network input is made from a raw column: ``number`` (its value), ``level``
    (1 where the text equals ``level``, one-hot) or ``missing`` (1 where the cell is empty)."""

    name: str
    kind: str
    column: str
    level: str | None = None


def feature_recipe(feature_names: Sequence[str], columns: Sequence[str]) -> tuple[Feature, ...]:
    """The recipe of each encoded feature, read from the names the data stage gives them
    (``col``, ``col=level``, ``col missing``) and the raw columns they can come from."""
    cols = set(columns)
    out = []
    for name in feature_names:
        if name in cols:
            out.append(Feature(name, "number", name))
            continue
        base = name.removesuffix(" missing")
        if name == indicator_name(base) and base in cols:
            out.append(Feature(name, "missing", base))
            continue
        col = next((c for c in columns if name.startswith(f"{c}=")), None)
        if col is None:
            raise DataError(f"feature {name!r} comes from none of the columns {list(columns)}")
        out.append(Feature(name, "level", col, name[len(col) + 1 :]))
    return tuple(out)


@dataclass(frozen=True)
class Preprocessing:
    """Raw columns -> the network's standardized float32 inputs, fitted on training rows.

    ``columns``: the raw feature columns a file must have (label and dropped columns not
    among them); ``fill``: each feature's value where missing (median, or the most frequent
    level of a text column, from the training rows); ``mean``/``scale``: the
    standardization of the filled training rows. ``ignored``: columns a file may also have
    that the model does not read (the label, the run's dropped columns).
    """

    columns: tuple[str, ...]
    features: tuple[Feature, ...]
    fill: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    ignored: tuple[str, ...] = ()

    def encode(self, frame: pd.DataFrame, source: str = "the file") -> np.ndarray:
        """The features of ``frame`` (NaN where a cell is missing), as float64.
        A frame whose columns differ from :attr:`columns` is a DataError in one line."""
        have = [str(c) for c in frame.columns]
        missing = [c for c in self.columns if c not in have]
        extra = [c for c in have if c not in self.columns and c not in self.ignored]
        if missing or extra:
            raise DataError(
                f"{source} has other columns than the model was trained on: missing "
                f"{missing or 'none'}, unexpected {extra or 'none'}; give the columns "
                f"{list(self.columns)} (the label column may be left out)"
            )
        X = np.empty((len(frame), len(self.features)))
        for j, f in enumerate(self.features):
            series = frame[f.column]
            absent = series.isna().to_numpy()
            if f.kind == "missing":
                X[:, j] = absent
            elif f.kind == "number":
                values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
                bad = np.isnan(values) & ~absent
                if bad.any():
                    row = int(np.flatnonzero(bad)[0]) + 1
                    raise DataError(
                        f"column {f.column!r} of {source} holds {series.iloc[row - 1]!r} in "
                        f"data row {row}; the model reads numbers there"
                    )
                X[:, j] = values
            else:
                X[:, j] = np.where(absent, np.nan, series.astype(str).to_numpy() == f.level)
        return X

    def transform(self, frame: pd.DataFrame, source: str = "the file") -> np.ndarray:
        """Encode, fill missing cells with the training values, standardize: float32."""
        X = self.encode(frame, source)
        X = np.where(np.isnan(X), np.asarray(self.fill), X)
        return ((X - np.asarray(self.mean)) / np.asarray(self.scale)).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        return cls(
            columns=tuple(d["columns"]),
            features=tuple(Feature(**f) for f in d["features"]),
            fill=tuple(d["fill"]),
            mean=tuple(d["mean"]),
            scale=tuple(d["scale"]),
            ignored=tuple(d.get("ignored", ())),
        )


def traceable(net: nn.Module) -> nn.Module:
    """A copy of ``net`` whose formula activations are traceable twins (same function, same
    constants, no formula text in the state dict), as ``torch.onnx.export`` needs."""
    twin = copy.deepcopy(net)
    for name, module in list(twin.named_modules()):
        if isinstance(module, SymbolicActivation):
            parent, _, attr = name.rpartition(".")
            setattr(twin.get_submodule(parent) if parent else twin, attr, module.traceable())
    return twin


class _LogitsAndProbabilities(nn.Module):
    """The graph ONNX holds: logits and class probabilities (sigmoid of one logit: [n, 1])."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.net(x)
        if logits.shape[1] == 1:
            return logits, torch.sigmoid(logits)
        return logits, torch.softmax(logits, dim=1)


def onnx_bytes(net: Network, metadata: dict[str, str] | None = None) -> bytes:
    """``net`` (eval mode) as an ONNX model: input ``x`` [rows, features], outputs ``logits``
    and ``probabilities``, in the dtype of the network's parameters (float32 as trained;
    ``net.double()`` gives a float64 model); ``metadata`` goes into metadata_props."""
    import warnings

    import onnx

    graph = _LogitsAndProbabilities(traceable(net)).eval()
    example = torch.zeros(2, net.n_features, dtype=next(net.parameters()).dtype)
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notice
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            (example,),
            buf,
            dynamo=False,
            opset_version=OPSET,
            input_names=["x"],
            output_names=["logits", "probabilities"],
            dynamic_axes={"x": {0: "rows"}, "logits": {0: "rows"}, "probabilities": {0: "rows"}},
        )
    proto = onnx.load_from_string(buf.getvalue())
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


@dataclass(frozen=True, eq=False)
class ExportedModel:
    """A trained network with its preprocessing, classes and card: what ``symact predict``
    loads. ``classes[i]`` names class i (for one logit: the probability is of class 1)."""

    network: Network
    preprocessing: Preprocessing
    classes: tuple[str, ...]
    card: dict[str, Any]

    @property
    def spec(self) -> ModelSpec:
        return self.network.spec

    def predict_proba(self, frame: pd.DataFrame, source: str = "the file") -> np.ndarray:
        """[n, C] class probabilities of the rows of ``frame`` (raw columns)."""
        x = torch.from_numpy(self.preprocessing.transform(frame, source))
        p = self.network.predict_proba(x).double().numpy()
        return np.stack([1.0 - p, p], axis=1) if p.ndim == 1 else p

    def predictions(self, frame: pd.DataFrame, source: str = "the file") -> pd.DataFrame:
        """One row per input row: the predicted class and each class's probability."""
        proba = self.predict_proba(frame, source)
        out = pd.DataFrame({"prediction": [self.classes[i] for i in proba.argmax(axis=1)]})
        for i, name in enumerate(self.classes):
            out[f"p({name})"] = proba[:, i]
        return out

    def save(self, folder: Path) -> list[Path]:
        """Write model.pt, model.onnx and the card into ``folder``; return the paths."""
        folder.mkdir(parents=True, exist_ok=True)
        pre = self.preprocessing.to_dict()
        payload = {
            "format": FORMAT,
            "module": self.network,
            "state_dict": self.network.state_dict(),
            "spec": self.spec.to_dict(),
            "n_features": self.network.n_features,
            "classes": list(self.classes),
            "preprocessing": pre,
            "card": self.card,
        }
        paths = [folder / MODEL_FILE, folder / ONNX_FILE, folder / CARD_JSON, folder / CARD_MD]
        torch.save(payload, paths[0])
        meta = {"symact_preprocessing": json.dumps(pre), "symact_classes": json.dumps(self.classes)}
        paths[1].write_bytes(onnx_bytes(self.network, meta))
        paths[2].write_text(json.dumps(_jsonable(self.card), indent=2) + "\n", encoding="utf-8")
        paths[3].write_text(card_markdown(self.card), encoding="utf-8")
        return paths


def load_model(path: str | Path) -> ExportedModel:
    """An exported model from its folder or its ``model.pt``. The file is a pickle (it holds
    the module): load only files you trust, as with any ``torch.load``."""
    path = Path(path)
    file = path / MODEL_FILE if path.is_dir() else path
    if not file.is_file():
        raise DataError(f"{path} is not an exported model: no {MODEL_FILE} (see `symact export`)")
    try:
        payload = torch.load(file, map_location="cpu", weights_only=False)
    except Exception as exc:  # a damaged or foreign file
        raise DataError(f"{file} is not a symact model file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DataError(f"{file} is not a {FORMAT} file; export it again with `symact export`")
    net = ModelSpec.from_dict(payload["spec"]).to_module(payload["n_features"])
    net.load_state_dict(payload["state_dict"])
    return ExportedModel(
        net.eval(),
        Preprocessing.from_dict(payload["preprocessing"]),
        tuple(payload["classes"]),
        payload["card"],
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def card_markdown(card: dict[str, Any]) -> str:
    """The card as a short Markdown page, one line per fact."""
    lines = [f"# Model card: {card.get('title', 'symact model')}", ""]
    for key, value in card.items():
        if key == "title":
            continue
        text = json.dumps(_jsonable(value)) if isinstance(value, (dict, list)) else str(value)
        lines.append(f"- **{key}**: {text}")
    return "\n".join(lines) + "\n"

"""Trained models out: a run's network as PyTorch and ONNX files with its preprocessing and
a model card (:mod:`symact.export.model`), chosen from a results folder and retrained from
its stored spec (:mod:`symact.export.runs`); ``symact export`` and ``symact predict``
(:mod:`symact.export.commands`). A stage after experiments and search."""

from symact.export.model import ExportedModel, Preprocessing, load_model, onnx_bytes, traceable

__all__ = ["ExportedModel", "Preprocessing", "load_model", "onnx_bytes", "traceable"]

"""Figures: valid PNGs of plausible size, masking of non-finite formula values."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from symact.report import (
    RunRecord,
    evaluate_activation,
    model_family,
    plot_accuracy_vs_params,
    plot_activation,
    plot_activations_combined,
    summary_table,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, min_width: int, min_height: int) -> np.ndarray:
    assert path.is_file() and path.stat().st_size > 10_000
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = mpimg.imread(path)
    height, width = image.shape[:2]
    assert width >= min_width and height >= min_height
    # not a blank canvas: several distinct colours were drawn
    assert len(np.unique(image.reshape(-1, image.shape[-1])[::97], axis=0)) > 10
    return image


def gcu(x):
    return x * np.cos(x)


def test_plot_activation(tmp_path):
    path = plot_activation(gcu, "mul(cos(x), x)", "HIGGS", tmp_path / "activation_HIGGS.png")
    assert path == tmp_path / "activation_HIGGS.png"
    assert_png(path, 800, 500)


def test_plot_with_nan_and_inf_renders(tmp_path):
    def nasty(x):
        return np.log(x) / np.sin(x)  # NaN for x < 0, -inf at 0, poles at multiples of pi

    y = evaluate_activation(nasty, np.linspace(-5, 5, 401))
    assert np.isnan(y).sum() > 150 and np.isfinite(y).sum() > 150
    path = plot_activation(nasty, "div(log(x), sin(x))", "NASTY", tmp_path / "nasty.png")
    assert_png(path, 800, 500)
    # all values non-finite still draws (ReLU/Swish and a note)
    nothing = plot_activation(lambda x: np.full_like(x, np.inf), "inf", "N", tmp_path / "n.png")
    assert_png(nothing, 800, 500)


def test_evaluate_activation_broadcasts_constants_and_rejects_bad_shapes():
    x = np.linspace(-1, 1, 5)
    assert evaluate_activation(lambda _x: 0.5, x).tolist() == [0.5] * 5
    with pytest.raises(ValueError, match="elementwise"):
        evaluate_activation(lambda _x: np.zeros(3), x)


def test_plot_activations_combined(tmp_path):
    items = [
        ("HIGGS", "mul(cos(x), x)", gcu),
        (
            "FOREST_COVER",
            "add(sub(mul(x, cos(x)), abs(sin(x))), mul(0.513, sub(x, abs(x))))",
            lambda x: x * np.cos(x) - np.abs(np.sin(x)) + 0.513 * (x - np.abs(x)),
        ),
        ("SPAMBASE", "0.5", lambda x: 0.5),
    ]
    path = plot_activations_combined(items, tmp_path / "activation_combined.png")
    image = assert_png(path, 1800, 500)
    assert image.shape[1] > 2.5 * image.shape[0]  # three panels side by side
    with pytest.raises(ValueError, match="at least one"):
        plot_activations_combined([], tmp_path / "empty.png")


def paper_like_records():
    runs = []
    configs = [
        ("Heavy", "ReLU", 0.83),
        ("Light", "ReLU", 0.81),
        ("Light", "GELU", 0.81),
        ("Light", "SiLU", 0.80),
        ("Light", "Hybrid (Specialist)", 0.79),
        ("Light", "Hybrid (Transfer)", 0.82),
    ]
    for ds, heavy_p, light_p in [("FOREST_COVER", 31801, 5825), ("SPAMBASE", 32401, 6017)]:
        for arch, act, acc in configs:
            for k, seed in enumerate((42, 43, 44)):
                runs.append(
                    RunRecord(
                        ds,
                        arch,
                        act,
                        seed,
                        acc + 0.002 * k,
                        acc + 0.08,
                        heavy_p if arch == "Heavy" else light_p,
                    )
                )
    # one all-failed configuration must simply be left out
    runs.append(RunRecord("HIGGS", "Light", "ReLU", 42, math.nan, math.nan, 4161, failed=True))
    runs.append(RunRecord("HIGGS", "Heavy", "ReLU", 42, 0.71, 0.79, 26601))
    return runs


def test_plot_accuracy_vs_params_from_records_and_summary(tmp_path):
    runs = paper_like_records()
    a = plot_accuracy_vs_params(runs, tmp_path / "accuracy_vs_params.png")
    assert_png(a, 1000, 600)
    b = plot_accuracy_vs_params(summary_table(runs), tmp_path / "b.png")
    assert_png(b, 1000, 600)
    with pytest.raises(ValueError, match="summary_table"):
        plot_accuracy_vs_params(summary_table(runs).drop(columns=["params"]), tmp_path / "c.png")


def test_model_family_labels():
    assert model_family("Heavy", "ReLU") == "Heavy ReLU"
    assert model_family("Light", "GELU") == "Light GELU"
    assert model_family("Light", "Hybrid (Transfer)") == "Hybrid Transfer"
    assert model_family("Light", "Hybrid (Specialist)") == "Hybrid Specialist"

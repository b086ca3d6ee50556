"""Model shapes of PROTOCOL.md: parameter counts and the nn.Sequential layout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symact.models import ARCHITECTURES, HEAVY, LIGHT, MLP, Architecture, param_count


@pytest.mark.parametrize(
    ("n_features", "light", "heavy"),
    [(28, 4161, 26601), (54, 5825, 31801), (57, 6017, 32401)],  # HIGGS, FOREST_COVER, SPAMBASE
)
def test_param_counts_match_the_paper(n_features, light, heavy):
    assert param_count(n_features, LIGHT.widths) == light
    assert param_count(n_features, HEAVY.widths) == heavy
    for widths, expected in ((LIGHT.widths, light), (HEAVY.widths, heavy)):
        model = MLP(n_features, widths, nn.ReLU())
        assert sum(p.numel() for p in model.parameters()) == expected


def test_layout_follows_the_protocol():
    model = MLP(28, LIGHT.widths, nn.GELU(), dropout=0.3)
    kinds = [type(m) for m in model]
    assert kinds == [
        nn.Linear, nn.BatchNorm1d, nn.GELU, nn.Dropout,
        nn.Linear, nn.BatchNorm1d, nn.GELU, nn.Dropout,
        nn.Linear, nn.Sigmoid,
    ]  # fmt: skip
    assert [model[0].in_features, model[0].out_features, model[4].out_features] == [28, 64, 32]
    assert model[3].p == 0.3 and model[1].eps == 1e-5 and model[1].momentum == 0.1
    assert model[2] is not model[6]  # each layer has its own copy of the activation
    model.eval()
    out = model(torch.randn(5, 28))
    assert out.shape == (5, 1) and bool(((out > 0) & (out < 1)).all())


def test_architectures_are_named_and_frozen():
    assert ARCHITECTURES == {"Heavy": HEAVY, "Light": LIGHT}
    assert HEAVY.widths == (200, 100) and LIGHT.widths == (64, 32)
    with pytest.raises(AttributeError):
        LIGHT.widths = (1,)  # type: ignore[misc]


@pytest.mark.parametrize("widths", [(), (64, 0), (3.5,)])
def test_bad_widths_are_refused(widths):
    with pytest.raises(ValueError, match="hidden widths"):
        param_count(10, widths)
    with pytest.raises(ValueError, match="hidden widths"):
        Architecture("bad", widths)


def test_activation_must_be_a_module():
    with pytest.raises(TypeError, match=r"nn\.Module"):
        MLP(10, (4,), "relu")  # type: ignore[arg-type]

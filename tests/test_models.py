"""ModelSpec: the one description of a network; parameter counts, layout, to_module()."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symact.formula import FormulaError
from symact.models import HEAVY, LIGHT, ModelSpec, Network


@pytest.mark.parametrize(
    ("n_features", "light", "heavy"),
    [(28, 4161, 26601), (54, 5825, 31801), (57, 6017, 32401)],  # HIGGS, FOREST_COVER, SPAMBASE
)
def test_param_counts_match_the_paper(n_features, light, heavy):
    assert LIGHT.param_count(n_features) == light
    assert HEAVY.param_count(n_features) == heavy
    for spec, expected in ((LIGHT, light), (HEAVY, heavy)):
        module = spec.to_module(n_features)
        assert sum(p.numel() for p in module.parameters()) == expected


@pytest.mark.parametrize(
    "spec",
    [
        LIGHT,
        ModelSpec(hidden=(40, 20, 30), n_outputs=7, activation="gelu"),
        ModelSpec(
            hidden=(8,),
            norm="none",
            activation="add(mul(x, 0.5), sin(x))",
            learnable_constants=True,
        ),
        ModelSpec(
            hidden=(16, 8),
            arch="resnet",
            blocks=3,
            activation="add(mul(x, 0.5), sin(x))",
            learnable_constants=True,
        ),
    ],
    ids=["light", "three-layers-7-classes", "no-norm-learnable", "resnet-learnable"],
)
def test_layout_is_the_modules_parameters_in_order(spec):
    """The layout names every trainable tensor of to_module(), in its parameter order."""
    module = spec.to_module(13)
    names = [name for name, _ in module.named_parameters()]
    keys = []
    for block in spec.layout(13):
        if block.name.startswith("c"):
            keys += [f"{block.state_key}{j}" for j in range(block.shape[0])]
        else:
            keys.append(block.state_key)
    assert keys == names
    assert spec.param_count(13) == sum(p.numel() for p in module.parameters())
    shapes = {name: tuple(p.shape) for name, p in module.named_parameters()}
    for block in spec.layout(13):
        if block.transpose:  # weights: [in, out] in the stack, [out, in] in nn.Linear
            assert shapes[block.state_key] == block.shape[::-1]
        elif not block.name.startswith("c"):
            assert shapes[block.state_key] == (block.numel,)


def test_to_module_follows_the_protocol():
    module = LIGHT.with_activation("gelu").to_module(28)
    layer0, layer1 = module.hidden
    assert [type(m) for m in layer0.children()] == [nn.Linear, nn.BatchNorm1d, nn.GELU, nn.Dropout]
    assert (layer0.linear.in_features, layer0.linear.out_features) == (28, 64)
    assert layer1.linear.out_features == 32 and module.out.out_features == 1
    assert layer0.drop.p == 0.3 and layer0.norm.eps == 1e-5 and layer0.norm.momentum == 0.1
    assert layer0.act is not layer1.act  # each layer has its own copy of the activation
    module.eval()
    x = torch.randn(5, 28)
    assert module(x).shape == (5, 1)
    probs = module.predict_proba(x)
    assert probs.shape == (5,) and bool(((probs > 0) & (probs < 1)).all())
    multi = ModelSpec(hidden=(16,), n_outputs=10).to_module(28).eval()
    p10 = multi.predict_proba(x)
    assert p10.shape == (5, 10) and torch.allclose(p10.sum(1), torch.ones(5))


def test_learnable_constants_are_per_layer_parameters():
    spec = ModelSpec(hidden=(4, 3), activation="mul(0.5, x)", learnable_constants=True)
    module = spec.to_module(2)
    assert spec.n_constants == 1
    assert module.hidden[0].act.c0 is not module.hidden[1].act.c0
    assert spec.param_count(2) == ModelSpec(hidden=(4, 3)).param_count(2) + 2


def test_specs_are_canonical_values():
    assert ModelSpec(hidden=[64, 32], activation="ReLU") == LIGHT  # type: ignore[arg-type]
    assert ModelSpec(hidden=(8,), activation="swish").activation == "silu"
    assert ModelSpec(hidden=(8,), activation="x*cos(x)").activation == "mul(x, cos(x))"
    assert LIGHT.with_outputs(2).n_outputs == 1 and LIGHT.with_outputs(7).n_outputs == 7
    assert LIGHT.with_outputs(7).loss == "cross_entropy" and LIGHT.loss == "binary_cross_entropy"
    d = ModelSpec(hidden=(3, 2), n_outputs=4, dropout=0.1).to_dict()
    assert ModelSpec.from_dict(d) == ModelSpec(hidden=(3, 2), n_outputs=4, dropout=0.1)
    assert HEAVY.cost(54, 80_000, 15) / LIGHT.cost(54, 80_000, 15) == pytest.approx(
        (54 * 200 + 200 * 100 + 100) / (54 * 64 + 64 * 32 + 32)
    )
    with pytest.raises(AttributeError):
        LIGHT.hidden = (1,)  # type: ignore[misc]


@pytest.mark.parametrize("widths", [(), (64, 0), (3.5,), "64"])
def test_bad_widths_are_refused(widths):
    with pytest.raises(ValueError, match="hidden widths"):
        ModelSpec(hidden=widths)  # type: ignore[arg-type]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="norm must be"):
        ModelSpec(hidden=(4,), norm="layer")
    with pytest.raises(ValueError, match="n_outputs is 1 for two classes"):
        ModelSpec(hidden=(4,), n_outputs=2)
    with pytest.raises(ValueError, match="dropout"):
        ModelSpec(hidden=(4,), dropout=1.0)
    with pytest.raises(FormulaError, match="one input x"):
        ModelSpec(hidden=(4,), activation="mul(X1, X2)")
    with pytest.raises(FormulaError):
        ModelSpec(hidden=(4,), activation="hardswish")


def test_a_module_activation_must_be_a_module():
    with pytest.raises(TypeError, match=r"nn\.Module"):
        Network(LIGHT, 10, "relu")  # type: ignore[arg-type]


def test_resnet_is_gorishniys_residual_mlp():
    """Projection, blocks of BatchNorm -> Linear -> act -> dropout -> Linear -> dropout + skip,
    head BatchNorm -> act -> Linear: counted and costed by hand."""
    spec = ModelSpec(hidden=(64, 32), arch="resnet", activation="gelu")
    assert spec.blocks == 2  # the default, written into the spec (and so into its key)
    d = 57
    block = 2 * 64 + (64 * 32 + 32) + (32 * 64 + 64)
    assert spec.param_count(d) == (d * 64 + 64) + 2 * block + 2 * 64 + (64 + 1)
    module = spec.to_module(d)
    assert sum(p.numel() for p in module.parameters()) == spec.param_count(d)
    macs = d * 64 + 2 * (64 * 32 + 32 * 64) + 64
    assert spec.macs_per_row(d) == macs
    assert spec.cost(d, 100, 3) / LIGHT.cost(d, 100, 3) == pytest.approx(
        macs / (d * 64 + 64 * 32 + 32)
    )
    proj, norm, inner, outer = list(module.hidden)[:4]
    assert [type(m) for m in norm.children()] == [nn.BatchNorm1d, nn.Identity, nn.Identity]
    assert [type(m) for m in inner.children()] == [nn.Linear, nn.Identity, nn.GELU, nn.Dropout]
    assert [type(m) for m in outer.children()] == [nn.Linear, nn.Identity, nn.Identity, nn.Dropout]
    assert outer.skip == 0 and proj.linear.in_features == d and module.hidden[-1].skip is None
    # the block adds its input: with the block's last Linear at zero, the block is the identity
    module.eval()
    x = torch.randn(5, d)
    with torch.no_grad():
        for i in (3, 6):
            module.hidden[i].linear.weight.zero_()
            module.hidden[i].linear.bias.zero_()
        stream = module.hidden[0](x)
        head = module.hidden[-1]
        expected = module.out(head.act(head.norm(stream)))
    torch.testing.assert_close(module(x), expected)


def test_an_mlp_key_is_unchanged_by_the_architecture_fields():
    assert LIGHT.to_dict() == {"hidden": (64, 32)} or "arch" not in LIGHT.to_dict()
    assert "blocks" not in LIGHT.to_dict()
    res = ModelSpec(hidden=(64, 32), arch="resnet")
    assert res.to_dict()["arch"] == "resnet" and res.to_dict()["blocks"] == 2
    assert ModelSpec.from_dict(res.to_dict()) == res
    assert res.structure() != LIGHT.structure()  # never in one stack


def test_bad_architectures_are_refused():
    with pytest.raises(ValueError, match="arch must be one of"):
        ModelSpec(hidden=(4,), arch="transformer")
    with pytest.raises(ValueError, match="blocks applies to arch='resnet'"):
        ModelSpec(hidden=(4,), blocks=3)
    with pytest.raises(ValueError, match="hidden=\\(width, inner width\\)"):
        ModelSpec(hidden=(4,), arch="resnet")
    with pytest.raises(ValueError, match="blocks must be a positive integer"):
        ModelSpec(hidden=(4, 4), arch="resnet", blocks=0)
    with pytest.raises(ValueError, match="BatchNorm"):
        ModelSpec(hidden=(4, 4), arch="resnet", norm="none")

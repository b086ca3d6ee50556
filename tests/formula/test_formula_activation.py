"""SymbolicActivation and make_activation: drop-in use, serialization, compile, training."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch
from torch import nn

from symact import FormulaError, SymbolicActivation, make_activation, parse_formula

# torch.compile imports deprecated torch.jit helpers; the warning is torch's, not ours
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:torch.*")

PAPER = "mul(cos(x), x)"


def test_repr_docstring_and_values() -> None:
    act = SymbolicActivation(PAPER)
    assert repr(act) == "SymbolicActivation(mul(cos(x), x))"
    assert "cos" in (SymbolicActivation.__doc__ or "")
    assert act.formula == parse_formula("cos(x) * x")
    x = torch.randn(3, 4, 5)
    torch.testing.assert_close(act(x), x * torch.cos(x))
    assert list(act.parameters()) == []


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtypes_and_shapes(dtype: torch.dtype) -> None:
    act = SymbolicActivation("add(div(x, 0.3), log(x))")
    for shape in [(7,), (2, 3), (2, 3, 4, 5)]:
        x = torch.randn(shape, dtype=dtype, requires_grad=True)
        y = act(x)
        assert y.dtype == dtype and y.shape == x.shape
        y.sum().backward()
        assert torch.isfinite(x.grad).all()


def test_features_must_be_made_univariate() -> None:
    with pytest.raises(FormulaError, match=r"univariate\(\)"):
        SymbolicActivation("mul(cos(X3), X3)")
    act = SymbolicActivation(parse_formula("mul(cos(X3), X3)").univariate())
    assert str(act.formula) == PAPER


def _roundtrip_torch_save(obj: object, weights_only: bool) -> object:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=weights_only)


def _model(spec: str | SymbolicActivation) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), make_activation(spec), nn.Linear(8, 1))


@pytest.mark.parametrize("learnable", [False, True])
def test_pickle_deepcopy_and_torch_save_keep_the_formula(learnable: bool) -> None:
    model = _model(SymbolicActivation("add(mul(cos(x), x), 0.25)", learnable_constants=learnable))
    x = torch.randn(5, 4)
    expected = model(x)
    copies = [
        pickle.loads(pickle.dumps(model)),
        copy.deepcopy(model),
        _roundtrip_torch_save(model, weights_only=False),
    ]
    for clone in copies:
        assert repr(clone[1]) == repr(model[1])
        torch.testing.assert_close(clone(x), expected)
        if learnable:  # parameters of the clone are its own
            assert clone[1].c0 is not model[1].c0
    assert b"<lambda>" not in pickle.dumps(model[1])


def test_state_dict_round_trip_and_mismatch() -> None:
    model = _model(SymbolicActivation("add(mul(cos(x), x), 0.25)", learnable_constants=True))
    with torch.no_grad():
        model[1].c0.fill_(0.75)
    state = _roundtrip_torch_save(model.state_dict(), weights_only=True)
    fresh = _model(SymbolicActivation("add(mul(cos(x), x), 0.25)", learnable_constants=True))
    fresh.load_state_dict(state)
    assert fresh[1].learned_formula() == parse_formula("add(mul(cos(x), x), 0.75)")
    x = torch.randn(3, 4)
    torch.testing.assert_close(fresh(x), model(x))
    other = _model(SymbolicActivation("add(mul(sin(x), x), 0.25)", learnable_constants=True))
    with pytest.raises(FormulaError, match="saved from"):
        other.load_state_dict(state)


def test_learnable_constants_train_and_read_back() -> None:
    torch.manual_seed(0)
    act = SymbolicActivation("mul(0.5, tanh(mul(x, 2.0)))", learnable_constants=True)
    assert [p.item() for p in act.parameters()] == [0.5, 2.0]
    assert repr(act) == "SymbolicActivation(mul(0.5, tanh(mul(x, 2.0))), learnable_constants=True)"
    x = torch.linspace(-2, 2, 64)
    target = 1.5 * torch.tanh(0.7 * x)
    optimizer = torch.optim.Adam(act.parameters(), lr=0.05)
    for _ in range(300):
        optimizer.zero_grad()
        loss = torch.mean((act(x) - target) ** 2)
        loss.backward()
        optimizer.step()
    learned = act.learned_formula()
    assert learned.constants == pytest.approx((1.5, 0.7), abs=0.05)
    assert act.formula.constants == (0.5, 2.0)  # the original is kept
    torch.testing.assert_close(learned.to_torch()(x), act(x).detach())


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("relu", nn.ReLU),
        ("ReLU", nn.ReLU),
        ("gelu", nn.GELU),
        ("silu", nn.SiLU),
        (" Swish ", nn.SiLU),
        ("tanh", nn.Tanh),
        ("sigmoid", nn.Sigmoid),
        ("identity", nn.Identity),
        ("elu", nn.ELU),
        ("SELU", nn.SELU),
        ("mish", nn.Mish),
        ("leaky_relu", nn.LeakyReLU),
        (PAPER, SymbolicActivation),
        ("x*cos(x)", SymbolicActivation),
        (parse_formula(PAPER), SymbolicActivation),
        (nn.ELU, nn.ELU),
    ],
)
def test_make_activation(spec: object, kind: type) -> None:
    act = make_activation(spec)  # type: ignore[arg-type]
    assert isinstance(act, kind)
    assert act(torch.zeros(2)).shape == (2,)


def test_make_activation_edge_cases() -> None:
    module = nn.Hardtanh()
    assert make_activation(module) is module
    assert make_activation(PAPER) is not make_activation(PAPER)  # a fresh module per call
    learnable = make_activation("mul(0.5, x)", learnable_constants=True)
    assert len(list(learnable.parameters())) == 1
    with pytest.raises(FormulaError, match="unknown activation 'hardswish'"):
        make_activation("hardswish")
    with pytest.raises(FormulaError, match=r"univariate"):
        make_activation("mul(cos(X3), X3)")
    with pytest.raises(TypeError, match="make_activation takes"):
        make_activation(3.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("learnable", [False, True])
def test_torch_compile_traces_the_closure(learnable: bool) -> None:
    torch._dynamo.reset()
    act = SymbolicActivation("add(mul(cos(x), x), div(x, 0.3))", learnable_constants=learnable)
    compiled = torch.compile(act, backend="aot_eager", fullgraph=True)
    x = torch.randn(4, 5, requires_grad=True)
    y = compiled(x)
    torch.testing.assert_close(y, act(x))
    y.sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.slow
def test_torch_compile_inductor() -> None:
    torch._dynamo.reset()
    act = SymbolicActivation(PAPER)
    compiled = torch.compile(act)
    x = torch.randn(8, 3)
    torch.testing.assert_close(compiled(x), x * torch.cos(x))


def _stripes(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """8x8 images: label 1 has a bright vertical stripe, label 0 a horizontal one."""
    images = 0.3 * torch.randn(n, 1, 8, 8, generator=generator)
    labels = torch.randint(0, 2, (n,), generator=generator)
    where = torch.randint(1, 7, (n,), generator=generator)
    for i in range(n):
        if labels[i]:
            images[i, 0, :, where[i]] += 1.0
        else:
            images[i, 0, where[i], :] += 1.0
    return images, labels


@pytest.mark.parametrize("learnable", [False, True])
def test_conv_net_with_symbolic_activation_trains(learnable: bool) -> None:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    images, labels = _stripes(256, generator)
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        make_activation("add(mul(cos(x), x), mul(0.1, x))", learnable_constants=learnable),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 2),
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
    losses = []
    for _ in range(60):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(net(images), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    accuracy = (net(images).argmax(1) == labels).float().mean().item()
    assert accuracy > 0.9
    restored = _roundtrip_torch_save(net, weights_only=False)
    torch.testing.assert_close(restored(images), net(images))

"""``SymbolicActivation``, a formula as a drop-in PyTorch activation, and ``make_activation``.

Every model of the project gets its activations from ``make_activation``, so no model ever
branches on activation names. A ``SymbolicActivation`` holds its ``Formula`` (which pickles as
canonical text) and a compiled closure that is rebuilt, never pickled, so modules holding one
survive ``pickle``, ``copy.deepcopy`` and ``torch.save``/``torch.load``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from symact.formula.compile import compile_torch, compile_torch_learnable
from symact.formula.named import NAMED_ACTIVATIONS, named_activation
from symact.formula.operators import _torch_function
from symact.formula.parser import parse_formula
from symact.formula.tree import Formula, FormulaError


def _activation_formula(formula: str | Formula) -> Formula:
    if isinstance(formula, str):
        formula = parse_formula(formula)
    if not isinstance(formula, Formula):
        raise TypeError(f"expected a Formula or formula text, got {type(formula).__name__}")
    if not formula.is_univariate:
        raise FormulaError(
            f"an activation takes one input x, but {formula} uses features "
            f"{', '.join(formula.variables)}; call .univariate() first "
            f"(e.g. parse_formula(text).univariate())"
        )
    return formula


class SymbolicActivation(nn.Module):
    r"""Applies a formula of ``x`` element-wise: :math:`\text{SymbolicActivation}(x) = f(x)`.

    For the paper's HIGGS formula ``mul(cos(x), x)``, :math:`f(x) = x \cos x`. Protected
    operators (``div``, ``log``, ``sqrt``, ``inv``, ``exp``) keep values and gradients finite.

    Args:
        formula: a :class:`Formula` or formula text over ``x`` (``"mul(cos(x), x)"``,
            ``"x*cos(x)"``). Formulas over gplearn features need ``.univariate()`` first.
        learnable_constants: if True, every constant of the formula becomes an
            ``nn.Parameter`` (``c0``, ``c1``, ... in the formula's print order), a
            parametric activation; :meth:`learned_formula` reads them back.

    Shape:
        - Input: :math:`(*)`, any shape, float32, float64 or bfloat16.
        - Output: :math:`(*)`, same shape and dtype.

    Examples::

        >>> act = SymbolicActivation("mul(cos(x), x)")
        >>> act
        SymbolicActivation(mul(cos(x), x))
        >>> act(torch.zeros(2, 3)).shape
        torch.Size([2, 3])
    """

    def __init__(self, formula: str | Formula, learnable_constants: bool = False) -> None:
        super().__init__()
        self.formula = _activation_formula(formula)
        self.learnable_constants = bool(learnable_constants)
        if self.learnable_constants:
            for k, value in enumerate(self.formula.constants):
                self.register_parameter(f"c{k}", nn.Parameter(torch.tensor(value)))
        self._compile()

    def _compile(self) -> None:
        if self.learnable_constants:
            self._names = tuple(f"c{k}" for k in range(len(self.formula.constants)))
            self._fn = compile_torch_learnable(self.formula)
        else:
            self._fn = compile_torch(self.formula, features=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.learnable_constants:
            params = self._parameters
            return self._fn((x, [params[name] for name in self._names]))
        return self._fn(x)

    def learned_formula(self) -> Formula:
        """The formula with the current values of the learnable constants."""
        if not self.learnable_constants:
            return self.formula
        return self.formula.with_constants([float(getattr(self, n).item()) for n in self._names])

    def extra_repr(self) -> str:
        if self.learnable_constants:
            return f"{self.learned_formula()}, learnable_constants=True"
        return str(self.formula)

    def traceable(self) -> nn.Module:
        """The same function as a module with no extra state, sharing this module's
        constants: tracing exporters (``torch.jit.trace``, ``torch.onnx.export``) cannot
        carry the formula text that the state dict holds."""
        return _TraceableActivation(self)

    def __prepare_scriptable__(self) -> nn.Module:
        """What ``torch.jit.script`` compiles in this module's place: TorchScript cannot
        compile the formula's Python closure, but the closure is element-wise and free of
        data-dependent Python branches, so its trace is the same function for every shape
        and floating dtype. The trace shares this module's constants (parameters).

        As for every module with this hook, ``torch.jit.script(net)`` puts the returned module
        into ``net`` in place of this one (same function, same constants, but no formula in
        the state dict): script a ``copy.deepcopy(net)`` to keep ``net`` as it is."""
        with torch.no_grad():
            example = torch.linspace(-3.0, 3.0, 7)
            traced = torch.jit.trace(self.traceable(), example, check_trace=False)
        return _ScriptableActivation(traced)

    # The compiled closure is rebuilt, never pickled (pickle, deepcopy, torch.save).
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_fn", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._compile()

    # The formula travels in the state_dict, so loading weights of another formula fails loudly.
    def _structure(self) -> str:
        if self.learnable_constants:
            return str(self.formula.with_constants([0.0] * len(self._names)))
        return str(self.formula)

    def get_extra_state(self) -> dict[str, Any]:
        return {"formula": str(self.formula), "learnable_constants": self.learnable_constants}

    def set_extra_state(self, state: Any) -> None:
        if not isinstance(state, dict) or "formula" not in state:
            raise FormulaError(f"SymbolicActivation state must name its formula, got {state!r}")
        other = parse_formula(state["formula"])
        if bool(state.get("learnable_constants")) != self.learnable_constants:
            raise FormulaError(
                f"state_dict has learnable_constants={state.get('learnable_constants')}, "
                f"this module has learnable_constants={self.learnable_constants}"
            )
        theirs = (
            other.with_constants([0.0] * len(other.constants))
            if self.learnable_constants
            else other
        )
        if str(theirs) != self._structure():
            raise FormulaError(
                f"state_dict was saved from SymbolicActivation({other}); this module computes "
                f"{self.formula}. Build the module from the saved formula."
            )


class _TraceableActivation(nn.Module):
    """:meth:`SymbolicActivation.traceable`: its forward, its parameters, no extra state."""

    def __init__(self, act: SymbolicActivation) -> None:
        super().__init__()
        self.formula_text = str(act.formula)
        self._fn = act._fn
        self.learnable_constants = act.learnable_constants
        self._names = act._names if act.learnable_constants else ()
        for name in self._names:
            self.register_parameter(name, act._parameters[name])

    def forward(self, x: Tensor) -> Tensor:
        if self.learnable_constants:
            return self._fn((x, [self._parameters[name] for name in self._names]))
        return self._fn(x)

    def extra_repr(self) -> str:
        return self.formula_text


class _ScriptableActivation(nn.Module):
    """A traced :class:`SymbolicActivation` in a module TorchScript can script as a child."""

    def __init__(self, traced: nn.Module) -> None:
        super().__init__()
        self.traced = traced

    def forward(self, x: Tensor) -> Tensor:
        return self.traced(x)


class ParametricActivation(nn.Module):
    r"""The per-neuron parametric form of an activation ``f`` (RealMLP, Holzmüller et al.
    2024): :math:`x + a \odot (f(x) - x)`, one :math:`a` per unit, initialised at 1.

    At 1 it is ``f``; at 0 the identity; in between a blend each unit learns (for ReLU, a
    PReLU with a slope ``1 - a`` per unit). ``f`` keeps its own learnable constants, under
    ``f.``; ``ModelSpec(parametric=True)`` (``"param:relu"``) builds one per hidden stage.

    Shape: input :math:`(N, \text{width})`, output the same.
    """

    def __init__(self, f: nn.Module, width: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(width))
        self.f = f

    def forward(self, x: Tensor) -> Tensor:
        return torch.addcmul(x, self.alpha, self.f(x) - x)

    def extra_repr(self) -> str:
        return f"width={self.alpha.numel()}"


def make_activation(
    spec: str | Formula | nn.Module | type[nn.Module], *, learnable_constants: bool = False
) -> nn.Module:
    """One factory for every activation in the project.

    ``spec`` is a name (``"relu"``, ``"gelu"``, ``"silu"``/``"swish"``, ``"tanh"``,
    ``"sigmoid"``, ``"identity"``, ``"elu"``, ``"selu"``, ``"mish"``, ``"leaky_relu"``,
    ``"prelu"``; case-insensitive), formula text over ``x``
    (``"mul(cos(x), x)"``), a ``Formula``, an ``nn.Module`` (returned as is) or an
    ``nn.Module`` class (instantiated without arguments). ``learnable_constants`` applies to
    formulas only.
    """
    if isinstance(spec, nn.Module):
        return spec
    if isinstance(spec, type) and issubclass(spec, nn.Module):
        return spec()
    if isinstance(spec, Formula):
        return SymbolicActivation(spec, learnable_constants)
    if isinstance(spec, str):
        named = named_activation(spec)
        if named is not None and named.learnable:
            # PReLU as ``relu(x) - c*relu(-x)``, c = 0.25 learned per layer: nn.PReLU()'s
            # function and default (one slope shared by a layer's units, He et al. 2015's
            # "channel-shared" variant, the one PyTorch builds by default; a slope per unit
            # is what ``param:relu`` learns). As a formula it trains on both paths and
            # reports its learned slope like every learnable formula.
            return SymbolicActivation(named.formula, learnable_constants=True)
        if named is not None:
            return _torch_function(named.module)()
        try:
            formula = parse_formula(spec)
        except FormulaError as exc:
            raise FormulaError(
                f"unknown activation {spec!r}: not one of {', '.join(NAMED_ACTIVATIONS)} "
                f"and not a formula ({exc})"
            ) from exc
        return SymbolicActivation(formula, learnable_constants)
    raise TypeError(
        "make_activation takes a name, formula text, a Formula or an nn.Module, "
        f"got {type(spec).__name__}"
    )


def activation_formula(act: nn.Module) -> tuple[Formula, bool] | None:
    """The formula a module computes and whether its constants are learnable, or None.

    Known for :class:`SymbolicActivation` and the modules of the named-activation table at
    their default settings (``nn.GELU(approximate="tanh")``, ``nn.ELU(alpha=0.5)`` or
    ``nn.LeakyReLU(0.2)`` compute another function: None); the fused kernels train exactly
    these.
    """
    if type(act) is SymbolicActivation:
        return act.formula, act.learnable_constants
    for row in NAMED_ACTIVATIONS.values():
        if row.learnable:  # its module holds a parameter the stacked trainer cannot see
            continue
        module = _torch_function(row.module)
        if type(act) is module:
            if _settings(act) != _settings(module()):
                return None
            return parse_formula(row.formula), False
    return None


def _settings(act: nn.Module) -> dict[str, Any]:
    """A module's public settings that change its function (``inplace`` does not)."""
    return {
        k: v
        for k, v in vars(act).items()
        if not k.startswith("_") and k not in ("training", "inplace")
    }

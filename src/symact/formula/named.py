"""Named activations: one table from a name to its formula and its PyTorch module.

``make_activation("gelu")`` builds the module; the fused training kernels run the formula
(``gelu(x)``, a row of the operator table), so both training paths compute the same function.
The module column is a dotted name resolved on first use, so specs, suites and parsing read
this table without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NamedActivation:
    """A named activation: its formula over ``x`` and the ``torch.nn`` module computing it."""

    name: str
    formula: str
    module: str


NAMED_ACTIVATIONS: dict[str, NamedActivation] = {
    row.name: row
    for row in (
        NamedActivation("relu", "relu(x)", "torch.nn.ReLU"),
        NamedActivation("gelu", "gelu(x)", "torch.nn.GELU"),
        NamedActivation("silu", "silu(x)", "torch.nn.SiLU"),
        NamedActivation("swish", "silu(x)", "torch.nn.SiLU"),
        NamedActivation("tanh", "tanh(x)", "torch.nn.Tanh"),
        NamedActivation("sigmoid", "sig(x)", "torch.nn.Sigmoid"),
        NamedActivation("identity", "x", "torch.nn.Identity"),
    )
}


def named_activation(text: str) -> NamedActivation | None:
    """The table row for a name in any case (``"ReLU"``), or None."""
    return NAMED_ACTIVATIONS.get(text.strip().lower())

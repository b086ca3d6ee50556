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
    """A named activation: its formula over ``x``, the ``torch.nn`` module computing it (at
    the module's default settings) and its label in tables (the paper's spelling).

    ``learnable``: the formula's constants are parameters of each hidden layer, trained with
    the weights (the module then is the formula with learnable constants, which equals
    ``module``; ``module`` names the PyTorch twin it is tested against).
    """

    name: str
    formula: str
    module: str
    label: str
    learnable: bool = False


NAMED_ACTIVATIONS: dict[str, NamedActivation] = {
    row.name: row
    for row in (
        NamedActivation("relu", "relu(x)", "torch.nn.ReLU", "ReLU"),
        NamedActivation("gelu", "gelu(x)", "torch.nn.GELU", "GELU"),
        NamedActivation("silu", "silu(x)", "torch.nn.SiLU", "SiLU"),
        NamedActivation("swish", "silu(x)", "torch.nn.SiLU", "SiLU"),
        NamedActivation("tanh", "tanh(x)", "torch.nn.Tanh", "Tanh"),
        NamedActivation("sigmoid", "sig(x)", "torch.nn.Sigmoid", "Sigmoid"),
        NamedActivation("identity", "x", "torch.nn.Identity", "Identity"),
        NamedActivation("elu", "elu(x)", "torch.nn.ELU", "ELU"),
        NamedActivation("selu", "selu(x)", "torch.nn.SELU", "SELU"),
        NamedActivation("mish", "mish(x)", "torch.nn.Mish", "Mish"),
        NamedActivation("leaky_relu", "leaky_relu(x)", "torch.nn.LeakyReLU", "LeakyReLU"),
        # nn.PReLU(): one slope per layer, initialised at 0.25 (see make_activation)
        NamedActivation(
            "prelu", "relu(x) - 0.25*relu(-x)", "torch.nn.PReLU", "PReLU", learnable=True
        ),
    )
}


def named_activation(text: str) -> NamedActivation | None:
    """The table row for a name in any case (``"ReLU"``), or None."""
    return NAMED_ACTIVATIONS.get(text.strip().lower())

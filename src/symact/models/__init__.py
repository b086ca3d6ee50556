"""Models: :class:`ModelSpec`, the one description of a network, and the paper's two.

``ModelSpec`` owns the parameter layout, counts, cost estimate and ``to_module()``;
``HEAVY`` (200-100) and ``LIGHT`` (64-32) are PROTOCOL.md's networks. ``Network`` (the
plain ``nn.Module``) lives in ``network.py`` and is imported on first use: specs are read by
the benchmark's discovery child, which runs without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from symact._lazy import lazy_attributes
from symact.models.spec import HEAVY, LIGHT, ModelSpec, ParamBlock, check_widths

if TYPE_CHECKING:
    from symact.models.network import Network

__all__ = ["HEAVY", "LIGHT", "ModelSpec", "Network", "ParamBlock", "check_widths"]

__getattr__ = lazy_attributes(__name__, {"Network": "symact.models.network"})

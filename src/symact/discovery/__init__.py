"""Discovery: find an activation formula on a dataset (the paper's gplearn method, or Operon)."""

from collections.abc import Sequence

import numpy as np

from symact.data import Dataset
from symact.discovery.gplearn import (
    PAPER_FUNCTION_SET,
    Discovery,
    GplearnSettings,
    discover_gplearn,
    discovery_sample,
)
from symact.discovery.operon import discover_operon
from symact.errors import SettingError

#: The discovery engines, by the name a DiscoverySpec's ``method`` and ``--engine`` use.
ENGINES: tuple[str, ...] = ("gplearn", "operon")


def discover_with(
    method: str,
    X: np.ndarray | Dataset,
    y: np.ndarray | None = None,
    *,
    dataset: str | None = None,
    settings: GplearnSettings | None = None,
    onehot_blocks: Sequence[Sequence[int]] = (),
) -> Discovery:
    """Run the engine ``method`` names under the paper's protocol (same sample and seed)."""
    engines = {"gplearn": discover_gplearn, "operon": discover_operon}
    if method not in engines:
        raise SettingError(f"discovery engine must be one of {ENGINES}, got {method!r}")
    return engines[method](
        X, y, dataset=dataset, settings=settings, onehot_blocks=onehot_blocks
    )


__all__ = [
    "ENGINES",
    "PAPER_FUNCTION_SET",
    "Discovery",
    "GplearnSettings",
    "discover_gplearn",
    "discover_operon",
    "discover_with",
    "discovery_sample",
]

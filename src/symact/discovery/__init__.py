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
from symact.discovery.operon import discover_operon, operon_symbols, require_operon
from symact.errors import SettingError

#: The discovery engines, by the name a DiscoverySpec's ``method`` and ``--engine`` use.
ENGINES: tuple[str, ...] = ("gplearn", "operon")
#: What each engine's ``Discovery.fitness`` measures (they are not comparable).
FITNESS = {"gplearn": "log loss", "operon": "R² on the 0/1 labels"}


def check_engine(method: str, settings: GplearnSettings) -> None:
    """Refuse, before any work, an engine that is unknown, not installed, or lacks one of
    the function set's functions (a :class:`SettingError` naming it)."""
    if method not in ENGINES:
        raise SettingError(f"discovery engine must be one of {ENGINES}, got {method!r}")
    if method == "operon":
        operon_symbols(settings.function_set)
        require_operon()


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
    check_engine(method, settings or GplearnSettings())
    engines = {"gplearn": discover_gplearn, "operon": discover_operon}
    return engines[method](X, y, dataset=dataset, settings=settings, onehot_blocks=onehot_blocks)


__all__ = [
    "ENGINES",
    "FITNESS",
    "PAPER_FUNCTION_SET",
    "Discovery",
    "GplearnSettings",
    "check_engine",
    "discover_gplearn",
    "discover_operon",
    "discover_with",
    "discovery_sample",
]

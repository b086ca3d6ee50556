"""Discovery: find an activation formula on a dataset (the paper's gplearn method)."""

from symact.discovery.gplearn import (
    PAPER_FUNCTION_SET,
    Discovery,
    GplearnSettings,
    discover_gplearn,
    discovery_sample,
)

__all__ = [
    "PAPER_FUNCTION_SET",
    "Discovery",
    "GplearnSettings",
    "discover_gplearn",
    "discovery_sample",
]

"""Candidates screened before any training: degenerate ones rejected, equal ones merged.

BatchNorm feeds each activation roughly N(0, 1) inputs, so a candidate is looked at on a
fixed sample of them (Act-Bench, NeurIPS 2023, does the same): its values there are its
*fingerprint*. Functionally equal formulas (``x*x`` and ``mul(x, x)``, ``relu(x)`` and
``max(x, 0.0)``) have equal fingerprints and are trained once. A candidate is rejected
without training when it is non-finite or explodes on that sample, or is constant or
linear (a network with it collapses to a linear model).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from symact.formula.tree import Formula

#: Inputs of the fingerprint: N(0, 1), seeded, plus the points where kinks usually sit.
FINGERPRINT_POINTS = np.concatenate(
    [np.random.default_rng(20231210).standard_normal(1000), [0.0, 1.0, -1.0, 3.0, -3.0]]
)
#: Values above this on N(0, 1) inputs make a network's activations explode.
EXPLODING = 1e4


#: The reasons of :func:`screen` that callers act on by name (``symact benchmark`` refuses a
#: constant activation and notes a linear one).
CONSTANT = "constant"
LINEAR = "linear (a network with it is a linear model)"


@dataclass(frozen=True)
class Screen:
    """What screening found: ``reason`` is None for a trainable candidate; ``values`` are its
    values on :data:`FINGERPRINT_POINTS` (the surrogate's features start from them)."""

    fingerprint: str | None
    reason: str | None
    values: np.ndarray | None = field(default=None, compare=False, repr=False)


def screen(formula: Formula) -> Screen:
    """Fingerprint ``formula`` on :data:`FINGERPRINT_POINTS`, or say why it is rejected."""
    with np.errstate(all="ignore"):
        y = np.asarray(formula.to_numpy(features=False)(FINGERPRINT_POINTS), dtype=np.float64)
    y = np.broadcast_to(y, FINGERPRINT_POINTS.shape)
    if not np.all(np.isfinite(y)):
        return Screen(None, "non-finite on N(0, 1) inputs")
    if np.max(np.abs(y)) > EXPLODING:
        return Screen(None, f"exploding: |f(x)| reaches {np.max(np.abs(y)):.3g} on N(0, 1) inputs")
    if np.ptp(y) <= 1e-9 * (1.0 + np.max(np.abs(y))):
        return Screen(None, CONSTANT)
    if formula.is_degenerate():
        return Screen(None, LINEAR)
    # rounding to 6 significant digits merges formulas equal up to float64 rounding
    rounded = np.array([float(f"{v:.6g}") for v in y]) + 0.0  # -0.0 -> 0.0
    return Screen(hashlib.sha256(rounded.tobytes()).hexdigest()[:20], None, y)

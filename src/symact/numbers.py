"""Scores that may be missing, in the two spellings symact uses, and the one way between them.

A score that does not exist (a failed run, a metric undefined on one class, no spread) is
NaN while computed with (numpy, pandas, statistics skip or propagate it) and ``None``
where stored or written as JSON, which has no NaN. Every stage converts through these.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def finite_or_none(value: Any) -> Any:
    """NaN and inf as None, numpy scalars as Python numbers; anything else as given."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def json_safe(value: Any) -> Any:
    """:func:`finite_or_none` through dicts, lists and tuples (as lists): a record that
    ``json.dumps(..., allow_nan=False)`` writes."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return finite_or_none(value)


def none_as_nan(value: Any) -> float:
    """A stored score as a float: None (missing) as NaN."""
    return math.nan if value is None else float(value)


def is_missing(value: Any) -> bool:
    """None or NaN: a score that does not exist, in either spelling."""
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))

"""A candidate's fitness over several datasets: each dataset's validation score put in that
dataset's own units, then averaged.

A search over several datasets (``symact search --suite FILE``) keeps one population and
trains every candidate on every search dataset. Its fitness cannot be the mean of raw
validation scores: datasets differ in how far activations move them. On the development
suite at a search's short training, the Light ReLU to Heavy ReLU gap (what five times the
width buys) ranges from thousandths of AUC (twonorm, mushroom: every network is near 1) to
several hundredths (german, banana); a raw mean would let the datasets with the widest
spread choose the population alone. Ranks (a candidate's rank on each dataset among the
candidates trained so far) avoid that but make a candidate's fitness depend on what else
was trained, and when: the tournament's judgement of an old candidate would drift as the
population grows, and every magnitude (a small win against a large one) is lost.

So each dataset's score is measured in units of *that dataset's capacity effect*:

    normalized_d = (score_d - LightReLU_d) / scale_d,
    scale_d      = max(|HeavyReLU_d - LightReLU_d|, MIN_SCALE),
    fitness      = mean over the search datasets of normalized_d,

with Light ReLU and Heavy ReLU trained at the same stage (same epochs, same seeds, same
validation rows) as the candidate. 0 is Light ReLU; 1 is as far above it as the Heavy
network is from it (where Heavy is better, this is report.suite's ``gap_closed``: the share
of the Light-to-Heavy gap closed). The absolute value keeps the sign of a candidate's
difference to Light ReLU where Heavy happens to be worse (small data, short training);
``MIN_SCALE`` keeps a dataset where both reach the same score from multiplying seed noise
by a huge factor. It costs two baselines per dataset and stage (Light ReLU is the first
known candidate anyway: only Heavy ReLU is extra), and it is a fixed function of a
candidate's own runs, so the tournament, a resumed search and the stored record agree.

On one dataset the normalization is a monotone map of the score, which changes no
decision: a one-dataset search keeps its raw score as fitness (and trains no Heavy ReLU).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: The smallest Light-to-Heavy distance a dataset's scale is given (one point of AUC or
#: accuracy): below it the two baselines are within seed noise of each other.
MIN_SCALE = 0.01


def mean_score(per_seed: Sequence[float | None]) -> float:
    """A formula's score at a stage on one dataset: the mean over the stage's seeds; NaN if
    a seed failed (a candidate that fails on some seeds is not scored on the others)."""
    if not per_seed or any(v is None for v in per_seed):
        return math.nan
    return float(np.mean([float(v) for v in per_seed]))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Reference:
    """Light ReLU's and Heavy ReLU's validation scores on one dataset at one stage."""

    light: float
    heavy: float

    @property
    def scale(self) -> float:
        return max(abs(self.heavy - self.light), MIN_SCALE)

    def to_dict(self) -> dict[str, float]:
        return {"light_relu": self.light, "heavy_relu": self.heavy, "scale": self.scale}


def normalized(score: float, reference: Reference) -> float:
    """``score`` in units of its dataset's capacity effect (module docstring)."""
    return (score - reference.light) / reference.scale


def aggregate(scores: Sequence[float]) -> float:
    """The fitness from per-dataset normalized scores: their mean, every dataset weighted
    alike; NaN where one is missing (a candidate must be scored everywhere to compete)."""
    if not scores or any(math.isnan(s) for s in scores):
        return math.nan
    return float(np.mean(scores))


@dataclass(frozen=True)
class DatasetScore:
    """A formula's scores at a stage on one search dataset: by seed, and normalized."""

    dataset: str  # display label
    per_seed: tuple[float | None, ...]
    normalized: float

    @property
    def score(self) -> float:
        return mean_score(self.per_seed)

    def to_dict(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "per_seed": list(self.per_seed),
            "score": None if math.isnan(self.score) else self.score,
            "normalized": None if math.isnan(self.normalized) else self.normalized,
        }

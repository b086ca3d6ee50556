"""A candidate's fitness over several datasets: each dataset's validation score put in that
dataset's own units, then averaged.

A search over several datasets (``symact search --suite FILE``) keeps one population and
trains every candidate on every search dataset. Its fitness cannot be the mean of raw
validation scores: datasets differ in how far activations move them. In a suite search on six
development datasets (README, "Across datasets"; 200 candidates at 3 epochs), 86% of the
variance of the 60 best candidates' raw scores (summed over the datasets) was banana's: a raw
mean lets one dataset choose the finalists. Ranks (a candidate's rank on each dataset among
the candidates trained so far) weight datasets alike but make a candidate's fitness depend
on what else was trained, and when: the tournament's judgement of an old candidate drifts as
the population grows, and magnitudes (a small win against a large one) are lost.

So each dataset's score is measured in units of *that dataset's capacity effect*:

    normalized_d = (score_d - LightReLU_d) / scale_d,
    scale_d      = max(|HeavyReLU_d - LightReLU_d|, MIN_SCALE),
    fitness      = mean over the search datasets of normalized_d,

with Light ReLU and Heavy ReLU trained at the same stage (same epochs, same seeds, same
validation rows) as the candidate. 0 is Light ReLU; 1 is as far above it as the Heavy
network is from it (where Heavy is better, this is report.suite's ``gap_closed``: the share
of the Light-to-Heavy gap closed). The absolute value keeps the sign of a candidate's
difference to Light ReLU where Heavy happens to be worse (german at 3 epochs: 0.587 against
0.594); ``MIN_SCALE`` keeps a dataset where both reach the same score from multiplying seed
noise by a huge factor. It costs two baselines per dataset and rung (Light ReLU is the first
known candidate anyway: only Heavy ReLU is extra), and it is a fixed function of a
candidate's own runs, so the tournament, a resumed search and the stored record agree.

Measured (same search): the Light-to-Heavy scales at 3 epochs were 0.157 (chess), 0.059
(banana), 0.035 (titanic), 0.024 (phoneme), 0.020 (twonorm) and the floor 0.01 (german);
among the 60 best candidates, banana held 61% of the variance of the normalized scores,
german 25%, twonorm 6% (raw scores: 86%, 1%, 1%). More even than raw scores, not even: a
dataset where width does not matter (german) weighs more than one where it does (chess). A
scale from how much the known activations differ on a dataset is the next thing to try.

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

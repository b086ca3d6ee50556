"""Successive halving over training length: the search's rungs, from its fitness to the
finalists.

A short training ranks activations by how fast they learn, not by where they end (on HIGGS,
functions that lead at 3 epochs fall behind at 15). So, as Hyperband and ASHA do, every
trained candidate has a rung-0 score (the search's fitness: ``epochs``, search seeds), the
best ``1/eta`` of each rung by score go on to the next, longer one, and the last rung trains
at the verdict's length (to convergence by validation, or a fixed ``final_epochs``) with
fresh seeds on the selection rows, which the search's fitness never read; its ``top`` best
are the finalists. ``rerank`` caps how many reach the last rung. Promotion skips
rediscovered baselines, the Specialist and shapes already promoted (``verdict.diverse``).

Every rung is trained in batches through the search's trainer (each run committed as it
finishes), and each promotion is committed to the store as the document
:data:`RUNGS_DOCUMENT` before the next rung trains: an interrupted search, run again,
replays its rung-0 scores from the store, takes the stored promotions, trains only what the
store lacks and continues mid-rung. Each rung records the Spearman rank correlation of its
scores with the previous rung's on the candidates in both: how well the cheap rung predicted
the longer one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from symact.numbers import finite_or_none
from symact.report.statistics import rank_correlation
from symact.search.evolution import Candidate, Search
from symact.search.verdict import diverse, ranked
from symact.training.config import length_text

#: The store's record of the rungs of the search in it (scores and promotions per rung).
RUNGS_DOCUMENT = "search_rungs"


@dataclass(frozen=True)
class Rung:
    """One rung: which candidates were scored there, how, their scores, who went on."""

    index: int
    epochs: int
    seeds: tuple[int, ...]
    rows: str  # "search validation" or "selection"
    candidates: tuple[int, ...]
    scores: tuple[float, ...]  # NaN where a run failed
    promoted: tuple[int, ...] = ()  # to the next rung; the finalists' pool at the last
    spearman: float | None = None  # with the previous rung, on the candidates in both
    # the last rung trained to convergence: ``epochs`` is then its maximum
    patience: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rung": self.index,
            "epochs": self.epochs,
            "seeds": list(self.seeds),
            "rows": self.rows,
            "candidates": list(self.candidates),
            "scores": [finite_or_none(v) for v in self.scores],
            "promoted": list(self.promoted),
            "spearman": self.spearman,
            "patience": self.patience,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Rung:
        return cls(
            d["rung"],
            d["epochs"],
            tuple(d["seeds"]),
            d["rows"],
            tuple(d["candidates"]),
            tuple(math.nan if v is None else float(v) for v in d["scores"]),
            tuple(d["promoted"]),
            d["spearman"],
            d.get("patience"),
        )

    def score_of(self) -> dict[int, float]:
        return dict(zip(self.candidates, self.scores, strict=True))


def promotions(n: int, rung: int, ladder: Sequence[int], eta: int, rerank: int, top: int) -> int:
    """How many of ``n`` candidates at ``rung`` go on: ``ceil(n / eta)``, at most ``rerank``
    into the last rung, never fewer than ``top`` (the finalists), never more than ``n``."""
    k = math.ceil(n / eta)
    if rung + 1 == len(ladder) - 1:
        k = min(k, rerank)
    return min(n, max(k, top))


def spearman(before: dict[int, float], after: dict[int, float]) -> float | None:
    """Spearman's rank correlation of two rungs' scores on the candidates scored (finite) in
    both; None with fewer than three or where either is constant."""
    common = [i for i in after if i in before]
    return rank_correlation([before[i] for i in common], [after[i] for i in common])


def climb(
    search: Search,
    candidates: Sequence[Candidate],
    say: Callable[[str], None] | None = None,
) -> list[Rung]:
    """Every rung of the search that produced ``candidates`` (see the module docstring);
    the last rung's ``promoted`` are the finalists' pool, best first."""
    s, say = search.settings, say or (lambda text: None)
    ladder = s.ladder
    by_index = {c.index: c for c in candidates}
    stored = _stored(search)
    eligible = {c.index for c in ranked(candidates)}  # no baseline shapes, no Specialist
    trained = [c for c in candidates if c.status in ("trained", "failed")]
    rung = Rung(
        0,
        ladder[0],
        s.search_seeds,
        "search validation",
        tuple(c.index for c in trained),
        tuple(c.fitness for c in trained),
    )
    rungs: list[Rung] = []
    for r in range(len(ladder)):
        if r > 0:
            before = rungs[-1]
            ids = before.promoted
            patience = s.final_patience if r == len(ladder) - 1 else None
            length = length_text(ladder[r], patience)
            say(
                f"rung {r} of {len(ladder) - 1}: {len(ids)} candidates, {length} epochs, "
                f"{_rows(search, r)} rows"
            )
            scores = _score_rung(search, [by_index[i] for i in ids], r)
            rung = Rung(
                r,
                ladder[r],
                _seeds(search, r),
                _rows(search, r),
                ids,
                scores,
                spearman=spearman(before.score_of(), dict(zip(ids, scores, strict=True))),
                patience=patience,
            )
        if r < len(stored) and stored[r].candidates == rung.candidates:
            promoted = stored[r].promoted  # committed before: binding on a resumed search
        else:
            promoted = _promote(rung, by_index, eligible, ladder, s)
        rung = replace(rung, promoted=promoted)
        rungs.append(rung)
        _commit(search, rungs)
    return rungs


def finalists(rungs: Sequence[Rung], candidates: Sequence[Candidate], top: int):
    """The ``top`` best of the last rung, with their last-rung scores: [(candidate, score)]."""
    last = rungs[-1]
    by_index = {c.index: c for c in candidates}
    score = last.score_of()
    return [(by_index[i], score[i]) for i in last.promoted[:top]]


def _promote(rung: Rung, by_index, eligible: set[int], ladder, s) -> tuple[int, ...]:
    """The best of ``rung`` by score (ties: the earlier candidate), distinct in shape; at
    the last rung all of them, in that order."""
    score = rung.score_of()
    order = sorted((i for i, v in score.items() if math.isfinite(v)), key=lambda i: (-score[i], i))
    order = [i for i in order if i in eligible]
    last = rung.index == len(ladder) - 1
    n = len(order) if last else promotions(len(order), rung.index, ladder, s.eta, s.rerank, s.top)
    return tuple(c.index for c in diverse([by_index[i] for i in order], n))


def _score_rung(search: Search, batch: Sequence[Candidate], rung: int) -> tuple[float, ...]:
    """Each candidate's score at ``rung``, trained ``settings.batch`` candidates at a time
    so that an interrupt keeps the batches finished."""
    out: list[float] = []
    step = search.settings.batch
    for start in range(0, len(batch), step):
        chunk = batch[start : start + step]
        out += search.rung_scores(chunk, rung)
    return tuple(out)


def _seeds(search: Search, rung: int) -> tuple[int, ...]:
    last = rung == len(search.settings.ladder) - 1
    return search.settings.select_seeds if last else search.settings.search_seeds


def _rows(search: Search, rung: int) -> str:
    last = rung == len(search.settings.ladder) - 1
    return "selection" if last and search.settings.selection else "search validation"


def _stored(search: Search) -> list[Rung]:
    """The rungs a search with these settings committed to this store before (none if the
    store holds another search's)."""
    doc = search.store.get_document(RUNGS_DOCUMENT)
    if not doc or doc.get("settings") != _identity(search):
        return []
    return [Rung.from_dict(d) for d in doc["rungs"]]


def _commit(search: Search, rungs: Sequence[Rung]) -> None:
    doc = {"settings": _identity(search), "rungs": [r.to_dict() for r in rungs]}
    search.store.put_document(RUNGS_DOCUMENT, doc)


def _identity(search: Search) -> dict[str, Any]:
    several = {"datasets": [d.to_dict() for d in search.datasets]} if search.datasets[1:] else {}
    return {**search.settings.identity(), "data": search.data.to_dict(), **several}

"""Which configurations carry a discovered formula, and where that formula came from.

The transfer matrix and the claims audit need to know, for each labelled configuration, the
dataset it was trained on, the dataset whose discovery produced its formula, the discovery
seed and the formula text. Labels alone do not say that reliably (a user's CSV can be called
anything), so the producer of the runs states it once, as a list of
:class:`FormulaConfiguration`; nothing here parses a label. :func:`suite_formula_configurations`
builds that list for the labels today's suites give (``experiments.suites.grid``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

SPECIALIST = "specialist"
TRANSFER = "transfer"


@dataclass(frozen=True)
class FormulaConfiguration:
    """A configuration whose activation is a discovered formula.

    ``dataset``: the dataset it is trained and tested on (the target); ``source_dataset``: the
    dataset whose discovery produced the formula (equal to ``dataset`` for a Specialist);
    ``model``: the label of its runs, as ``RunRecord.model`` gives it ("Light Hybrid
    (Transfer)"); ``formula``: the univariate activation as text; ``discovery_seed``: the seed
    of the discovery (gplearn's random_state), None where it is not known. Several discoveries
    of one source (one per discovery seed) are several configurations with distinct labels.
    """

    dataset: str
    source_dataset: str
    model: str
    formula: str
    discovery_seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("dataset", "source_dataset", "model", "formula"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(
                    f"FormulaConfiguration.{name} must be a non-empty string, got {value!r}"
                )
        if self.discovery_seed is not None and not isinstance(self.discovery_seed, int):
            raise ValueError(
                f"FormulaConfiguration.discovery_seed must be an int or None, "
                f"got {self.discovery_seed!r}"
            )

    @property
    def role(self) -> str:
        """ "specialist" (the dataset's own formula) or "transfer" (another dataset's)."""
        return SPECIALIST if self.source_dataset == self.dataset else TRANSFER

    @property
    def source_key(self) -> tuple[str, int | None, str]:
        """What identifies one discovered formula across the datasets it is tried on."""
        return (self.source_dataset, self.discovery_seed, self.formula)

    @property
    def source_label(self) -> str:
        """A short name for the formula's origin: "HIGGS" or "HIGGS (discovery seed 43)"."""
        if self.discovery_seed is None:
            return self.source_dataset
        return f"{self.source_dataset} (discovery seed {self.discovery_seed})"


FormulaLike = FormulaConfiguration | Mapping[str, Any]
_FIELDS = tuple(f.name for f in fields(FormulaConfiguration))


def as_formula_configuration(row: FormulaLike) -> FormulaConfiguration:
    """A FormulaConfiguration from itself or a dict with its fields (a CSV row, JSON)."""
    if isinstance(row, FormulaConfiguration):
        return row
    if not isinstance(row, Mapping):
        raise TypeError(f"expected a FormulaConfiguration or a dict with {_FIELDS}, got {row!r}")
    missing = [name for name in _FIELDS[:-1] if name not in row]
    if missing:
        raise ValueError(f"formula configuration is missing {missing}; got keys {sorted(row)}")
    seed = row.get("discovery_seed")
    blank = seed is None or (isinstance(seed, float) and seed != seed) or seed == ""
    return FormulaConfiguration(
        dataset=str(row["dataset"]),
        source_dataset=str(row["source_dataset"]),
        model=str(row["model"]),
        formula=str(row["formula"]),
        discovery_seed=None if blank else int(seed),
    )


def as_formula_configurations(rows: Iterable[FormulaLike]) -> list[FormulaConfiguration]:
    """Validate a batch; refuse one (dataset, model) label described twice."""
    configs = [as_formula_configuration(r) for r in rows]
    seen: dict[tuple[str, str], FormulaConfiguration] = {}
    for c in configs:
        key = (c.dataset, c.model)
        if key in seen:
            raise ValueError(
                f"{c.model!r} on {c.dataset} is described twice ({seen[key]} and {c}); each "
                "labelled configuration has one formula and one source"
            )
        seen[key] = c
    return configs


def suite_formula_configurations(
    formulas: Mapping[str, str],
    transfer_sources: Sequence[str],
    *,
    datasets: Sequence[str] | None = None,
    discovery_seed: int | None = None,
) -> list[FormulaConfiguration]:
    """The formula configurations of a suite run, with the labels ``suites.grid`` gives them.

    ``formulas`` maps each dataset label to its discovered activation text; every dataset gets
    its Specialist ("Light Hybrid (Specialist)") and one Transfer per other source dataset:
    "Light Hybrid (Transfer)" when there is one, "Light Hybrid (Transfer from SRC)" when there
    are several. ``datasets`` defaults to the keys of ``formulas``.
    """
    targets = list(formulas) if datasets is None else list(datasets)
    unknown = [s for s in [*targets, *transfer_sources] if s not in formulas]
    if unknown:
        raise ValueError(f"no formula for {unknown}; formulas are known for {sorted(formulas)}")
    configs = []
    for target in targets:
        configs.append(
            FormulaConfiguration(
                target, target, "Light Hybrid (Specialist)", formulas[target], discovery_seed
            )
        )
        others = [s for s in transfer_sources if s != target]
        for source in others:
            label = "Hybrid (Transfer)" if len(others) == 1 else f"Hybrid (Transfer from {source})"
            configs.append(
                FormulaConfiguration(
                    target, source, f"Light {label}", formulas[source], discovery_seed
                )
            )
    return configs

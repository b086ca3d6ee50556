"""Result tables: per-seed runs in, the paper's efficiency table (CSV and markdown) out.

The report stage takes plain data: one ``RunRecord`` (or an equivalent dict) per finished
run. ``summary_table`` aggregates the seeds of each configuration into numbers;
``efficiency_table`` turns that summary into the reference's ``final_efficiency_results.csv``
(same columns, same "0.824 ± 0.003" strings, same row order), and ``to_markdown`` prints
any table without the ``tabulate`` dependency that pandas would need for it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from symact.training.metrics import efficiency

EFFICIENCY_COLUMNS: tuple[str, ...] = (
    "Dataset",
    "Architecture",
    "Activation",
    "Acc",
    "AUC",
    "Params",
    "Efficiency",
)

SUMMARY_COLUMNS: tuple[str, ...] = (
    "dataset",
    "architecture",
    "activation",
    "acc_mean",
    "acc_std",
    "auc_mean",
    "auc_std",
    "n_seeds",
    "n_failed",
    "params",
    "efficiency",
    "efficiency_gain_vs_heavy",
)

# The order in which the reference runs the configurations of a dataset. Its table is sorted
# on 3-decimal Efficiency strings with a stable sort, so ties keep this order; we reproduce it.
CONFIGURATION_ORDER: tuple[tuple[str, str], ...] = (
    ("Heavy", "ReLU"),
    ("Light", "ReLU"),
    ("Light", "GELU"),
    ("Light", "SiLU"),
    ("Light", "Hybrid (Specialist)"),
    ("Light", "Hybrid (Transfer)"),
)

HEAVY_BASELINE: tuple[str, str] = ("Heavy", "ReLU")
LIGHT_BASELINE: tuple[str, str] = ("Light", "ReLU")

# Decimals of the reference's number format ("0.824 ± 0.003", Efficiency "0.240").
DECIMALS = 3


@dataclass(frozen=True)
class RunRecord:
    """One finished training run (one dataset, configuration and seed), as the report sees it.

    A failed run (loss became NaN/inf) keeps its identity and parameter count so it can be
    counted, but its accuracy and AUC are never averaged. Runs of one dataset and one seed
    share one train/test split, which is what makes differences paired by seed meaningful.
    ``model`` (derived, not stored) is the configuration's label in every table.
    """

    dataset: str
    architecture: str
    activation: str
    seed: int
    accuracy: float
    auc: float
    params: int
    failed: bool = False
    epochs_run: int = 0
    best_epoch: int = 0  # 0: trained a fixed number of epochs (no early stopping)
    stopped_early: bool = False

    def __post_init__(self) -> None:
        for name in ("dataset", "architecture", "activation"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"RunRecord.{name} must be a non-empty string, got {value!r}")
        if int(self.params) <= 1:
            raise ValueError(
                f"RunRecord.params must be an integer > 1 (Efficiency divides by log10(params)), "
                f"got {self.params!r} for {self.dataset} {self.architecture} {self.activation}"
            )

    @property
    def configuration(self) -> tuple[str, str]:
        """(architecture, activation): what the seeds of one table row share."""
        return (self.architecture, self.activation)

    @property
    def model(self) -> str:
        """The paper's row label, e.g. "Light Hybrid (Transfer)"; see :func:`model_label`."""
        return model_label(self.architecture, self.activation)


def model_label(architecture: str, activation: str) -> str:
    """A configuration's "model" label as the paper's table reads it: "Heavy ReLU",
    "Light Hybrid (Specialist)", "Light mul(x, tanh(x))". The statistics, transfer and claims
    tables name configurations this way, so one string identifies a row everywhere."""
    return f"{architecture} {activation}"


RecordLike = RunRecord | Mapping[str, Any]

_FIELDS = tuple(f.name for f in dataclasses.fields(RunRecord))
_OPTIONAL = ("failed", "epochs_run", "best_epoch", "stopped_early")
_REQUIRED = tuple(f.name for f in dataclasses.fields(RunRecord) if f.name not in _OPTIONAL)


def as_record(row: RecordLike) -> RunRecord:
    """Turn a dict (or a RunRecord) into a RunRecord, saying which fields are wrong."""
    if isinstance(row, RunRecord):
        return row
    if not isinstance(row, Mapping):
        raise TypeError(f"expected a RunRecord or a dict with fields {_FIELDS}, got {type(row)}")
    missing = [name for name in _REQUIRED if name not in row]
    if missing:
        raise ValueError(
            f"run record is missing {missing}; every row needs {list(_REQUIRED)} "
            f"(and optionally {', '.join(map(repr, _OPTIONAL))}); got keys {sorted(row)}"
        )
    failed = bool(row.get("failed", False))
    return RunRecord(
        dataset=str(row["dataset"]),
        architecture=str(row["architecture"]),
        activation=str(row["activation"]),
        seed=int(row["seed"]),
        accuracy=_as_float(row["accuracy"]),
        auc=_as_float(row["auc"]),
        params=int(row["params"]),
        failed=failed,
        epochs_run=int(row.get("epochs_run") or 0),
        best_epoch=int(row.get("best_epoch") or 0),
        stopped_early=bool(row.get("stopped_early", False)),
    )


def _as_float(value: Any) -> float:
    # A failed run may carry None for its metrics; NaN keeps it out of any mean by construction.
    return math.nan if value is None else float(value)


def as_records(rows: Iterable[RecordLike]) -> list[RunRecord]:
    """Validate a batch of rows; refuse the same (dataset, configuration, seed) twice."""
    records = [as_record(row) for row in rows]
    seen: set[tuple[str, str, str, int]] = set()
    for r in records:
        key = (r.dataset, r.architecture, r.activation, r.seed)
        if key in seen:
            raise ValueError(
                f"duplicate run {key}: each (dataset, architecture, activation, seed) may appear "
                "once, otherwise one seed would count twice in the mean; drop the repeat"
            )
        seen.add(key)
    return records


def format_mean_std(
    mean: float, std: float, decimals: int = DECIMALS, *, n: int | None = None, of: int = 0
) -> str:
    """The reference's cell format: f"{mean:.3f} ± {std:.3f}"; "n/a" when nothing finished.

    With ``n`` of ``of`` seeds finished and some failed, the cell says so, "0.627 ± 0.000
    (1 of 2 seeds)": a mean of fewer seeds than the others' is never shown unmarked. When
    every seed finished the cell is the reference's, byte for byte; when none did, "n/a"
    (and ``n_failed`` in summary.csv counts them)."""
    if not math.isfinite(mean):
        return "n/a"
    cell = f"{mean:.{decimals}f} ± {std:.{decimals}f}"
    if n is not None and n < of:
        cell += f" ({n} of {of} seeds)"
    return cell


def configuration_rank(configuration: tuple[str, str]) -> int:
    """Position of (architecture, activation) in the reference's run order; unknown ones last."""
    try:
        return CONFIGURATION_ORDER.index(configuration)
    except ValueError:
        return len(CONFIGURATION_ORDER)


def _group(records: Sequence[RunRecord]) -> dict[tuple[str, str, str], list[RunRecord]]:
    """Group runs by (dataset, architecture, activation) in the reference's run order."""
    groups: dict[tuple[str, str, str], list[RunRecord]] = {}
    for r in records:
        groups.setdefault((r.dataset, r.architecture, r.activation), []).append(r)
    return dict(
        sorted(
            groups.items(),
            key=lambda kv: (kv[0][0], configuration_rank(kv[0][1:])),
        )
    )


def shared_params(key: tuple[str, str, str], runs: Sequence[RunRecord]) -> int:
    """The one parameter count the seeds of a configuration share; refuses a mix."""
    params = {r.params for r in runs}
    if len(params) != 1:
        raise ValueError(
            f"runs of {key} disagree on the parameter count ({sorted(params)}); the seeds of one "
            "configuration must train the same architecture"
        )
    return params.pop()


def _summarise(key: tuple[str, str, str], runs: list[RunRecord]) -> dict[str, Any]:
    n_params = shared_params(key, runs)
    ok = [r for r in runs if not r.failed]
    acc = np.array([r.accuracy for r in ok], dtype=np.float64)
    auc = np.array([r.auc for r in ok], dtype=np.float64)
    if not (np.isfinite(acc).all() and np.isfinite(auc).all()):
        raise ValueError(
            f"a run of {key} that is not marked failed has a non-finite accuracy or AUC; "
            "mark it failed=True so it is counted, not averaged"
        )
    # np.std with ddof=0 (population std) is what the reference reports.
    acc_mean = float(acc.mean()) if ok else math.nan
    auc_mean = float(auc.mean()) if ok else math.nan
    return {
        "dataset": key[0],
        "architecture": key[1],
        "activation": key[2],
        "acc_mean": acc_mean,
        "acc_std": float(acc.std()) if ok else math.nan,
        "auc_mean": auc_mean,
        "auc_std": float(auc.std()) if ok else math.nan,
        "n_seeds": len(ok),
        "n_failed": len(runs) - len(ok),
        "params": n_params,
        "efficiency": efficiency(auc_mean, n_params),
    }


def summary_table(records: Iterable[RecordLike]) -> pd.DataFrame:
    """Numbers behind the efficiency table: one row per (dataset, architecture, activation).

    Columns: ``SUMMARY_COLUMNS``. Means and population stds are over the runs that did not
    fail (``n_seeds`` of them); ``n_failed`` counts the rest. ``efficiency_gain_vs_heavy`` is
    efficiency / efficiency of the same dataset's Heavy ReLU - 1 (the paper's "+21.2%"), NaN
    where that dataset has no Heavy ReLU row. Rows: datasets alphabetically, configurations in
    the reference's run order.
    """
    runs = as_records(records)
    rows = [_summarise(key, group) for key, group in _group(runs).items()]
    table = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS[:-1]))
    heavy = {
        row["dataset"]: row["efficiency"]
        for row in rows
        if (row["architecture"], row["activation"]) == HEAVY_BASELINE
    }
    table["efficiency_gain_vs_heavy"] = [
        eff / heavy[ds] - 1.0 if ds in heavy else math.nan
        for ds, eff in zip(table["dataset"], table["efficiency"], strict=True)
    ]
    return table.astype({"n_seeds": "int64", "n_failed": "int64", "params": "int64"})


def efficiency_table(records: Iterable[RecordLike] | pd.DataFrame) -> pd.DataFrame:
    """The reference's ``final_efficiency_results.csv`` table, from runs or a ``summary_table``.

    Columns exactly ``EFFICIENCY_COLUMNS``; Acc and AUC are "mean ± std" strings (3 decimals,
    population std over the seeds that did not fail, followed by "(n of N seeds)" where
    some failed), Params an int, Efficiency a float
    (mean AUC / log10(params), full precision). Sorted by Dataset, then Efficiency descending
    *as the reference sorts it*: on the value rounded to 3 decimals, ties kept in the order the
    reference runs them (Heavy, Light ReLU, GELU, SiLU, Specialist, Transfer). Configurations
    whose every run failed come last in their dataset with "n/a" cells.
    """
    summary = records if isinstance(records, pd.DataFrame) else summary_table(records)
    missing = [c for c in SUMMARY_COLUMNS[:-1] if c not in summary.columns]
    if missing:
        raise ValueError(f"efficiency_table needs a summary_table() frame; missing {missing}")
    rank = [
        configuration_rank((a, b))
        for a, b in zip(summary["architecture"], summary["activation"], strict=True)
    ]
    # Round through the same f-string the reference prints (np.round can differ on halves).
    rounded = pd.Series([float(f"{v:.{DECIMALS}f}") for v in summary["efficiency"]])
    order = sorted(
        range(len(summary)),
        key=lambda i: (
            summary["dataset"].iloc[i],
            math.isnan(rounded.iloc[i]),
            -rounded.iloc[i] if not math.isnan(rounded.iloc[i]) else 0.0,
            rank[i],
            i,
        ),
    )
    s = summary.iloc[order].reset_index(drop=True)
    seeds = [(int(n), int(n + f)) for n, f in zip(s["n_seeds"], s["n_failed"], strict=True)]
    return pd.DataFrame(
        {
            "Dataset": s["dataset"].astype(str),
            "Architecture": s["architecture"].astype(str),
            "Activation": s["activation"].astype(str),
            "Acc": [
                format_mean_std(m, d, n=n, of=of)
                for m, d, (n, of) in zip(s["acc_mean"], s["acc_std"], seeds, strict=True)
            ],
            "AUC": [
                format_mean_std(m, d, n=n, of=of)
                for m, d, (n, of) in zip(s["auc_mean"], s["auc_std"], seeds, strict=True)
            ],
            "Params": s["params"].astype("int64"),
            "Efficiency": s["efficiency"].astype("float64"),
        },
        columns=list(EFFICIENCY_COLUMNS),
    )


def write_efficiency_csv(
    table: pd.DataFrame, path: str | Path, *, efficiency_decimals: int | None = DECIMALS
) -> Path:
    """Write the efficiency table as the reference does; returns the path written.

    The reference stores Efficiency as the string f"{eff:.3f}" (and sorts on it), so by
    default the CSV carries 3 decimals and matches the reference file byte for byte on the
    same numbers. Pass ``efficiency_decimals=None`` for full float precision; the exact values
    also live in ``summary_table`` and results.json. UTF-8, "\\n" line ends, no index.
    """
    missing = [c for c in EFFICIENCY_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"not an efficiency_table() frame: missing columns {missing}")
    out = table.loc[:, list(EFFICIENCY_COLUMNS)].copy()
    if efficiency_decimals is not None:
        out["Efficiency"] = [
            f"{v:.{efficiency_decimals}f}" if math.isfinite(v) else "" for v in out["Efficiency"]
        ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    return path


def _cell(value: Any, float_format: str) -> str:
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return "n/a" if math.isnan(value) else float_format.format(value)
    # A literal "|" would end the cell early; newlines would end the row.
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(table: pd.DataFrame, *, float_format: str = "{:.3f}") -> str:
    """A GitHub pipe table of ``table`` (no index), columns padded to line up in a terminal.

    Numeric columns are right-aligned, floats shown with ``float_format`` (3 decimals, as the
    reference prints Efficiency), NaN as "n/a". Ends without a trailing newline.
    """
    headers = [str(c) for c in table.columns]
    numeric = [pd.api.types.is_numeric_dtype(table[c]) for c in table.columns]
    body = [[_cell(v, float_format) for v in row] for row in table.itertuples(index=False)]
    widths = [max([len(h), 3, *(len(row[j]) for row in body)]) for j, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if num else ("-" * (w + 2))
            for w, num in zip(widths, numeric, strict=True)
        )
        + "|"
    )
    return "\n".join([line(headers), rule, *(line(row) for row in body)])

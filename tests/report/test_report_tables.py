"""The efficiency table: reference format, sort order, failed runs, markdown."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from symact.report import (
    EFFICIENCY_COLUMNS,
    SUMMARY_COLUMNS,
    RunRecord,
    efficiency_table,
    format_mean_std,
    summary_table,
    to_markdown,
    write_efficiency_csv,
)

# The reference code's own results file (PROTOCOL.md), byte for byte.
REFERENCE_CSV = """\
Dataset,Architecture,Activation,Acc,AUC,Params,Efficiency
FOREST_COVER,Light,Hybrid (Transfer),0.824 ± 0.003,0.904 ± 0.001,5825,0.240
FOREST_COVER,Light,ReLU,0.811 ± 0.004,0.894 ± 0.002,5825,0.237
FOREST_COVER,Light,GELU,0.810 ± 0.005,0.893 ± 0.002,5825,0.237
FOREST_COVER,Light,SiLU,0.801 ± 0.003,0.883 ± 0.002,5825,0.235
FOREST_COVER,Light,Hybrid (Specialist),0.786 ± 0.002,0.867 ± 0.001,5825,0.230
FOREST_COVER,Heavy,ReLU,0.834 ± 0.003,0.915 ± 0.001,31801,0.203
HIGGS,Light,ReLU,0.710 ± 0.002,0.784 ± 0.002,4161,0.217
HIGGS,Light,GELU,0.709 ± 0.001,0.781 ± 0.002,4161,0.216
HIGGS,Light,Hybrid (Specialist),0.707 ± 0.002,0.777 ± 0.002,4161,0.215
HIGGS,Light,SiLU,0.701 ± 0.001,0.770 ± 0.002,4161,0.213
HIGGS,Heavy,ReLU,0.718 ± 0.000,0.791 ± 0.000,26601,0.179
SPAMBASE,Light,Hybrid (Specialist),0.920 ± 0.003,0.967 ± 0.004,6017,0.256
SPAMBASE,Light,ReLU,0.919 ± 0.007,0.961 ± 0.007,6017,0.254
SPAMBASE,Light,GELU,0.920 ± 0.009,0.961 ± 0.008,6017,0.254
SPAMBASE,Light,SiLU,0.918 ± 0.006,0.959 ± 0.008,6017,0.254
SPAMBASE,Light,Hybrid (Transfer),0.832 ± 0.008,0.898 ± 0.006,6017,0.238
SPAMBASE,Heavy,ReLU,0.931 ± 0.008,0.978 ± 0.002,32401,0.217
"""


def _three_seeds(mean: float, std: float) -> list[float]:
    # {m - a, m, m + a} has population std a * sqrt(2/3).
    a = std * math.sqrt(1.5)
    return [mean - a, mean, mean + a]


def reference_records() -> list[RunRecord]:
    """Three seeds per reference row with exactly the reference's means and stds."""
    records = []
    for line in REFERENCE_CSV.splitlines()[1:]:
        ds, arch, act, acc, auc, params, _eff = line.split(",")
        accs = _three_seeds(*map(float, acc.split(" ± ")))
        aucs = _three_seeds(*map(float, auc.split(" ± ")))
        for seed, a, u in zip((42, 43, 44), accs, aucs, strict=True):
            records.append(RunRecord(ds, arch, act, seed, a, u, int(params)))
    # Scrambled input order: the table's order must not depend on it.
    rng = np.random.default_rng(0)
    return [records[i] for i in rng.permutation(len(records))]


def test_reproduces_reference_csv_byte_for_byte(tmp_path):
    table = efficiency_table(reference_records())
    path = write_efficiency_csv(table, tmp_path / "out" / "final_efficiency_results.csv")
    assert path.read_text(encoding="utf-8") == REFERENCE_CSV


def test_mean_std_strings_use_population_std():
    runs = [
        RunRecord("D", "Light", "ReLU", s, acc, auc, 4161)
        for s, acc, auc in [(42, 0.820, 0.90), (43, 0.824, 0.91), (44, 0.828, 0.92)]
    ]
    row = efficiency_table(runs).iloc[0]
    # population std of (0.820, 0.824, 0.828) = 0.004 * sqrt(2/3) = 0.003266; ddof=1 gives 0.004
    assert row["Acc"] == "0.824 ± 0.003"
    assert row["AUC"] == "0.910 ± 0.008"
    assert row["Params"] == 4161
    assert row["Efficiency"] == pytest.approx(0.91 / math.log10(4161), rel=1e-12)
    assert list(efficiency_table(runs).columns) == list(EFFICIENCY_COLUMNS)


def test_sort_dataset_then_efficiency_descending():
    runs = []
    for ds, arch, act, auc, params in [
        ("ZETA", "Heavy", "ReLU", 0.95, 26601),
        ("ALPHA", "Heavy", "ReLU", 0.80, 26601),
        ("ALPHA", "Light", "GELU", 0.70, 4161),
        ("ALPHA", "Light", "ReLU", 0.79, 4161),
        ("ZETA", "Light", "SiLU", 0.99, 4161),
    ]:
        runs.append(RunRecord(ds, arch, act, 42, 0.5, auc, params))
    table = efficiency_table(runs)
    # ALPHA: Light ReLU 0.79/log10(4161) = 0.218, Light GELU 0.70/3.619 = 0.193,
    #        Heavy ReLU 0.80/log10(26601) = 0.181; ZETA: SiLU 0.274, Heavy 0.215.
    assert table[["Dataset", "Architecture", "Activation"]].apply(tuple, axis=1).tolist() == [
        ("ALPHA", "Light", "ReLU"),
        ("ALPHA", "Light", "GELU"),
        ("ALPHA", "Heavy", "ReLU"),
        ("ZETA", "Light", "SiLU"),
        ("ZETA", "Heavy", "ReLU"),
    ]


def test_ties_at_three_decimals_keep_the_reference_run_order():
    # Light ReLU and Light GELU with efficiencies equal to 3 decimals but GELU slightly
    # higher: the reference sorts its "0.254" strings stably, so ReLU (run first) stays first.
    runs = [
        RunRecord("S", "Light", "GELU", 42, 0.9, 0.96110, 6017),
        RunRecord("S", "Light", "ReLU", 42, 0.9, 0.96100, 6017),
        RunRecord("S", "Light", "SiLU", 42, 0.9, 0.97000, 6017),
    ]
    table = efficiency_table(runs)
    assert list(table["Activation"]) == ["SiLU", "ReLU", "GELU"]
    assert table["Efficiency"].iloc[1] < table["Efficiency"].iloc[2]


def test_failed_runs_are_counted_not_averaged():
    runs = [
        RunRecord("H", "Light", "Hybrid (Specialist)", 42, 0.70, 0.78, 4161),
        RunRecord("H", "Light", "Hybrid (Specialist)", 43, 0.72, 0.80, 4161),
        {
            "dataset": "H",
            "architecture": "Light",
            "activation": "Hybrid (Specialist)",
            "seed": 44,
            "accuracy": None,
            "auc": float("nan"),
            "params": 4161,
            "failed": True,
        },
        {
            "dataset": "H",
            "architecture": "Light",
            "activation": "GELU",
            "seed": 42,
            "accuracy": 0.1,
            "auc": 0.2,
            "params": 4161,
            "failed": True,
        },
    ]
    summary = summary_table(runs)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    hybrid = summary.set_index("activation").loc["Hybrid (Specialist)"]
    assert hybrid["n_seeds"] == 2 and hybrid["n_failed"] == 1
    assert hybrid["acc_mean"] == pytest.approx(0.71)
    assert hybrid["acc_std"] == pytest.approx(0.01)  # population std of (0.70, 0.72)
    gelu = summary.set_index("activation").loc["GELU"]
    assert gelu["n_seeds"] == 0 and gelu["n_failed"] == 1 and math.isnan(gelu["acc_mean"])
    table = efficiency_table(runs)
    # all-failed configuration last, with "n/a" cells, not the failed run's 0.1
    assert list(table["Activation"]) == ["Hybrid (Specialist)", "GELU"]
    # a failed seed is counted where the mean is shown, never hidden
    assert table.iloc[0]["Acc"] == "0.710 ± 0.010 (2 of 3 seeds)"
    assert table.iloc[0]["AUC"].endswith(" (2 of 3 seeds)")
    assert table.iloc[1]["Acc"] == "n/a" and math.isnan(table.iloc[1]["Efficiency"])
    printed = to_markdown(table)
    assert "0.710 ± 0.010 (2 of 3 seeds)" in printed


def test_summary_efficiency_gain_vs_heavy_matches_paper_higgs():
    runs = [
        RunRecord("HIGGS", "Heavy", "ReLU", 42, 0.718, 0.791, 26601),
        RunRecord("HIGGS", "Light", "ReLU", 42, 0.710, 0.784, 4161),
        RunRecord("OTHER", "Light", "ReLU", 42, 0.5, 0.5, 4161),
    ]
    summary = summary_table(runs).set_index(["dataset", "architecture", "activation"])
    gain = summary.loc[("HIGGS", "Light", "ReLU"), "efficiency_gain_vs_heavy"]
    expected = (0.784 / math.log10(4161)) / (0.791 / math.log10(26601)) - 1
    assert gain == pytest.approx(expected, rel=1e-12)
    assert round(gain, 3) == 0.212  # the paper's +21.2%
    assert summary.loc[("HIGGS", "Heavy", "ReLU"), "efficiency_gain_vs_heavy"] == 0.0
    assert math.isnan(summary.loc[("OTHER", "Light", "ReLU"), "efficiency_gain_vs_heavy"])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="missing \\['auc'"):
        summary_table(
            [
                {
                    "dataset": "D",
                    "architecture": "Light",
                    "activation": "ReLU",
                    "seed": 1,
                    "accuracy": 0.5,
                    "params": 100,
                }
            ]
        )
    dup = RunRecord("D", "Light", "ReLU", 1, 0.5, 0.5, 100)
    with pytest.raises(ValueError, match="duplicate run"):
        summary_table([dup, dup])
    with pytest.raises(ValueError, match="parameter count"):
        summary_table([dup, RunRecord("D", "Light", "ReLU", 2, 0.5, 0.5, 101)])
    with pytest.raises(ValueError, match="mark it failed"):
        summary_table([RunRecord("D", "Light", "ReLU", 2, math.nan, 0.5, 100)])
    with pytest.raises(ValueError, match="params must be an integer > 1"):
        RunRecord("D", "Light", "ReLU", 2, 0.5, 0.5, 1)


def test_csv_full_precision_option(tmp_path):
    table = efficiency_table([RunRecord("D", "Light", "ReLU", 1, 0.5, 0.9, 4161)])
    path = write_efficiency_csv(table, tmp_path / "t.csv", efficiency_decimals=None)
    back = pd.read_csv(path)
    assert back["Efficiency"].iloc[0] == pytest.approx(0.9 / math.log10(4161), rel=1e-15)


def test_format_mean_std():
    assert format_mean_std(0.82449, 0.0026) == "0.824 ± 0.003"
    assert format_mean_std(math.nan, math.nan) == "n/a"


def test_markdown_table():
    table = efficiency_table(reference_records())
    md = to_markdown(table)
    lines = md.split("\n")
    assert len(lines) == 2 + 17
    assert lines[0].split("|")[1].strip() == "Dataset"
    assert [c.strip() for c in lines[0].strip("|").split("|")] == list(EFFICIENCY_COLUMNS)
    # numeric columns right-aligned, text columns not
    assert lines[1].split("|")[1].endswith("-") and lines[1].split("|")[6].endswith(":")
    assert lines[2] == (
        "| FOREST_COVER | Light        | Hybrid (Transfer)   | 0.824 ± 0.003 | 0.904 ± 0.001 "
        "|   5825 |      0.240 |"
    )
    assert len({len(line) for line in lines}) == 1  # columns line up
    assert not md.endswith("\n")


def test_markdown_escapes_pipes_and_shows_nan():
    df = pd.DataFrame({"formula": ["a|b"], "value": [math.nan], "n": [3]})
    md = to_markdown(df)
    assert "a\\|b" in md and "n/a" in md
    assert md.split("\n")[2].count("|") - md.split("\n")[2].count("\\|") == 4

"""The search's verdict counts a failed final seed wherever it shows a mean."""

from __future__ import annotations

import pandas as pd

from symact.cli.search import verdict_text
from symact.search.outputs import RESULT_COLUMNS
from symact.search.verdict import judge


def _entry(activation: str, formula: str, val: float) -> dict:
    finals = [[seed, f"{activation}-{seed}"] for seed in (1001, 1002, 1003)]
    return {"dataset": "MAIL", "activation": activation, "formula": formula,
            "val_score": val, "n_classes": 2, "finals": finals}  # fmt: skip


def _result(auc: float | None) -> dict:
    failed = auc is None
    return {"accuracy": None if failed else auc - 0.1, "auc": auc, "failed": failed}


def test_a_failed_final_seed_is_counted_in_the_verdict():
    entries = [_entry("ReLU", "relu(x)", 0.90), _entry("candidate 1", "mul(x, tanh(x))", 0.91)]
    results = {
        "ReLU-1001": _result(0.90),
        "ReLU-1002": _result(0.91),
        "ReLU-1003": _result(0.92),
        "candidate 1-1001": _result(0.93),
        "candidate 1-1002": _result(None),  # non-finite loss: failed
        "candidate 1-1003": _result(0.97),
    }
    rows = {r["activation"]: r for r in judge(entries, results)}
    assert (rows["ReLU"]["n_seeds"], rows["ReLU"]["n_failed"]) == (3, 0)
    assert (rows["candidate 1"]["n_seeds"], rows["candidate 1"]["n_failed"]) == (2, 1)
    table = pd.DataFrame(list(rows.values()), columns=list(RESULT_COLUMNS))
    assert table["n_failed"].tolist() == [0, 1]
    printed = verdict_text(table).splitlines()
    header = printed[0].split()
    assert "n_seeds" in header and "n_failed" in header
    assert header[-6:-4] == ["n_seeds", "n_failed"]
    assert printed[2].split()[-6:-4] == ["2", "1"]  # the candidate: 2 seeds, 1 failed

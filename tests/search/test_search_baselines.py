"""The verdict's parametric baselines (#21, #22): PReLU and param:ReLU are scored and judged
like ReLU, GELU and SiLU, their stored runs are the learnable / per-neuron networks, and a
finalist must beat the best of all of them by validation."""

from __future__ import annotations

import csv
import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from symact.cli import main
from symact.search.verdict import judge

SMALL = [
    "--budget", "12", "--population", "8", "--tournament", "3", "--epochs", "1",
    "--final-seeds", "3", "--final-epochs", "2", "--rerank", "3", "--top", "2",
    "--widths", "8", "--no-specialist-baseline", "--device", "cpu",
]  # fmt: skip
BASELINES = ["ReLU", "GELU", "SiLU", "PReLU", "param:ReLU"]


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("baselines")
    argv = ["search", "--dataset", "breast_cancer", "--data-dir", str(out / "data"),
            "--out", str(out / "out"), *SMALL]  # fmt: skip
    assert main(argv) == 0
    return out / "out"


def _doc(out: Path) -> dict:
    return json.loads((out / "search.json").read_text())


def _stored(out: Path) -> dict[str, tuple[dict, dict]]:
    with sqlite3.connect(out / "symact.sqlite") as conn:
        rows = conn.execute("SELECT key, spec, result FROM runs").fetchall()
    return {k: (json.loads(s), json.loads(r)) for k, s, r in rows}


def test_the_verdict_holds_prelu_and_param_relu_and_their_runs_are_parametric(searched):
    doc = _doc(searched)
    entries = {e["activation"]: e for e in doc["entries"]}
    assert list(entries) == [*BASELINES, "candidate 1", "candidate 2"]
    assert entries["PReLU"]["formula"] == "prelu" and entries["PReLU"]["learnable"] is True
    assert entries["param:ReLU"]["formula"] == "param:relu"
    assert entries["param:ReLU"]["learnable"] is False
    assert all(not math.isnan(e["val_score"]) for e in entries.values())  # all scored
    stored = _stored(searched)
    for name in BASELINES:
        models = [stored[key][0]["model"] for _, key in entries[name]["finals"]]
        assert len(models) == 3  # every final seed trained and committed
        assert {m.get("activation", "relu") for m in models} == {
            {"PReLU": "prelu", "param:ReLU": "relu"}.get(name, name.lower() + "(x)")
        }
        assert {bool(m.get("parametric")) for m in models} == {name == "param:ReLU"}
        assert {bool(m.get("learnable_constants")) for m in models} == {name == "PReLU"}
    # PReLU's learned slope is reported: the formula with the trained constant per layer
    learned = [stored[key][1].get("learned_formulas") for _, key in entries["PReLU"]["finals"]]
    assert all(f and "relu" in f[0] for f in learned)
    # their validation scores were measured on the selection rows at the verdict's length
    for name in ("PReLU", "param:ReLU"):
        select = [
            r
            for s, r in stored.values()
            if s["model"] == stored[entries[name]["finals"][0][1]][0]["model"]
            and s["train"]["epochs"] == 2
            and s["seed"] in range(501, 507)  # the default six select seeds
        ]
        assert np.mean([r["auc"] for r in select]) == pytest.approx(entries[name]["val_score"])


def test_the_best_baseline_is_chosen_among_all_five_by_validation(searched):
    doc = _doc(searched)
    with (searched / "search_results.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    best = max((e for e in doc["entries"] if e["activation"] in BASELINES),
               key=lambda e: e["val_score"])  # fmt: skip
    assert [r["activation"] for r in rows] == [*BASELINES, "candidate 1", "candidate 2"]
    assert {r["best_baseline"] for r in rows} == {best["activation"]}
    results = {k: r for k, (_, r) in _stored(searched).items()}
    # each parametric baseline, made the best by validation, is the one finalists must beat
    for name in ("PReLU", "param:ReLU"):
        entries = [
            {**e, "val_score": 1.0} if e["activation"] == name else e for e in doc["entries"]
        ]
        judged = {r["activation"]: r for r in judge(entries, results)}
        assert {r["best_baseline"] for r in judged.values()} == {name}
        theirs = {s: results[k]["auc"] for s, k in _finals(doc, name)}
        mine = {s: results[k]["auc"] for s, k in _finals(doc, "candidate 1")}
        d = np.mean([mine[s] - theirs[s] for s in sorted(mine)])
        assert judged["candidate 1"]["diff_vs_best_baseline"] == pytest.approx(d, abs=1e-12)
        assert math.isnan(judged[name]["diff_vs_best_baseline"])
        assert judged["candidate 1"]["offered"] is False  # it did not beat 1.0 on validation


def _finals(doc: dict, name: str) -> list[tuple[int, str]]:
    (entry,) = [e for e in doc["entries"] if e["activation"] == name]
    return [(int(s), k) for s, k in entry["finals"]]


def test_the_first_generation_holds_prelu_with_its_slope_learned(searched):
    """PReLU joins the known activations as a candidate whose constant is learned (the
    search learns no constants by default); as a baseline of the verdict it is never a
    finalist, though its children are candidates like any."""
    doc = _doc(searched)
    (prelu,) = [c for c in doc["candidates"] if c["learnable"]]
    assert prelu["origin"] == "known" and prelu["generation"] == 0
    assert prelu["formula"] == "sub(relu(x), mul(0.25, relu(neg(x))))"
    assert prelu["status"] == "trained" and len(prelu["learned"]) == 2  # per search seed
    # the slope was trained: it moved from its start of 0.25
    assert all(layers[0] != prelu["formula"] for layers in prelu["learned"])
    stored = [s for s, _ in _stored(searched).values()]
    mine = [s for s in stored if s["model"].get("activation") == prelu["formula"]]
    assert {s["seed"] for s in mine} >= {1, 2}
    assert all(s["model"]["learnable_constants"] is True for s in mine)
    plain = [s for s in stored if s["model"].get("activation") == "gelu(x)"]
    assert plain and all(not s["model"].get("learnable_constants") for s in plain)
    finalists = [e["formula"] for e in doc["entries"] if e["activation"].startswith("candidate")]
    assert prelu["formula"] not in finalists

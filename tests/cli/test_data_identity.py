"""Resume keys name the data a run read (issue #18): an edited CSV or another copy of a
dataset under another ``--data-dir`` is trained again in the same ``--out``; an unchanged
rerun trains nothing; a store of the older protocol is refused in one line."""

from __future__ import annotations

import json
import shutil

from cli_helpers import FAST, MAIL_COLUMNS, csv_rows, write_csv

from symact.experiments import ResultsStore
from symact.identity import PROTOCOL_VERSION

MAIL = ["--target", "y", "--positive", "yes", "--drop", "id", "--activations", "relu"]


def _fingerprint(out, label: str) -> str:
    return json.loads((out / "results.json").read_text())["data"][label]["fingerprint"]


def test_editing_a_csv_between_two_runs_into_one_out_trains_again(symact, mail_csv, tmp_path):
    out = tmp_path / "out"
    args = ("benchmark", "--datasets", str(mail_csv), *MAIL, *FAST, "--out", str(out))
    first = symact(*args)
    assert first.status == 0, first.err
    assert "2 runs: 2 trained, 0 already stored" in first.out
    before = _fingerprint(out, "MAIL")

    again = symact(*args)
    assert "2 runs: 0 trained, 2 already stored" in again.out  # the same rows: nothing to do

    rows = csv_rows(mail_csv)
    rows[0]["free"] = str(float(rows[0]["free"]) + 1.0)  # one cell of one row edited
    write_csv(mail_csv, MAIL_COLUMNS, [[r[c] for c in MAIL_COLUMNS] for r in rows])
    edited = symact(*args)
    assert edited.status == 0, edited.err
    assert "2 runs: 2 trained, 0 already stored" in edited.out
    assert _fingerprint(out, "MAIL") != before
    with ResultsStore(out / "symact.sqlite") as store:
        assert store.count() == 4  # the old runs are kept beside the new ones


def test_another_copy_under_another_data_dir_trains_again(symact, canonical_data_dir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    lines = (canonical_data_dir / "spambase.data").read_text().splitlines(keepends=True)
    (other / "spambase.data").write_text("".join(lines[::2]))  # half the rows: another copy
    out = tmp_path / "out"
    common = ("benchmark", "--datasets", "spambase", "--activations", "relu", *FAST)
    first = symact(*common, "--data-dir", str(canonical_data_dir), "--out", str(out))
    assert "2 runs: 2 trained, 0 already stored" in first.out, first.err
    copy = symact(*common, "--data-dir", str(other), "--out", str(out))
    assert "2 runs: 2 trained, 0 already stored" in copy.out, copy.err
    back = symact(*common, "--data-dir", str(canonical_data_dir), "--out", str(out))
    assert "2 runs: 0 trained, 2 already stored" in back.out, back.err


def test_a_store_of_the_older_protocol_says_so_in_one_line_before_any_work(symact, tmp_path):
    """A real store written as protocol 2 wrote it: a run whose spec has the old fields
    (the whole dataclasses, no fingerprint) under a key of the old format."""
    out = tmp_path / "old"
    old_spec = {
        "data": {"name": "breast_cancer", "rows": None, "subset_seed": 42, "target": None,
                 "positive": None, "drop": [], "labels": "binary"},
        "model": {"hidden": [64, 32], "activation": "relu", "norm": "batchnorm",
                  "dropout": 0.3, "n_outputs": 1, "learnable_constants": False,
                  "bn_eps": 1e-5, "bn_momentum": 0.1},
        "seed": 42,
        "train": {"epochs": 1, "batch_size": 1024, "optimizer": "adam", "lr": 0.001,
                  "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0},
        "split": {"seed": 42, "test_size": 0.2, "validation": 0.0},
        "protocol": 2,
    }  # fmt: skip
    with ResultsStore(out / "symact.sqlite") as store:
        store.put_run("a" * 32, old_spec, {"accuracy": 0.95, "auc": 0.99, "failed": False})
    stamp = (out / "symact.sqlite").stat().st_mtime_ns
    r = symact("benchmark", "--suite", "builtin", *FAST, "--out", str(out))
    assert r.status == 2
    line = r.error
    assert str(out) in line and "protocol 2" in line and f"writes {PROTOCOL_VERSION}" in line
    assert "choose a new --out" in line and f"move {out} away" in line
    assert (out / "symact.sqlite").stat().st_mtime_ns == stamp  # not even opened for writing
    moved = tmp_path / "old-protocol-2"
    shutil.move(out, moved)  # what the line says to do; the same command then runs
    assert symact("benchmark", "--suite", "builtin", *FAST, "--out", str(out)).status == 0
    report = symact("report", str(moved))  # a report still reads the old store
    assert "holds no finished benchmark or search" in report.err  # (it had only a run)

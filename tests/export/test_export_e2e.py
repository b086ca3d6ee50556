"""Done-when of trained models out: a search over a user's CSV, its best finalist exported,
`symact predict` on the rows the run held back scores the run's own AUC; the ONNX file
computes the same probabilities in onnxruntime; wrong columns are one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from symact.cli import main
from symact.experiments.specs import SplitSpec

PENGUINS = Path(__file__).parents[1] / "fixtures" / "data" / "penguins.csv"
SMALL_SEARCH = [
    "--budget", "12", "--population", "8", "--tournament", "4", "--epochs", "2",
    "--final-seeds", "3", "--final-epochs", "3", "--rerank", "2", "--top", "1",
    "--population-size", "60", "--generations", "2", "--device", "cpu",
]  # fmt: skip


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    """A search over penguins.csv (text columns, missing cells) and its best finalist."""
    root = tmp_path_factory.mktemp("search")
    results, model = root / "results", root / "model"
    argv = ["search", "--dataset", str(PENGUINS), "--target", "species", "--positive", "Adelie"]
    assert main([*argv, "--out", str(results), *SMALL_SEARCH]) == 0
    assert main(["export", str(model), "--from", str(results), "--best"]) == 0
    return results, model


def _held_back_rows(card: dict) -> pd.DataFrame:
    """The raw rows of the file that the exported run was scored on (its test part)."""
    frame = pd.read_csv(PENGUINS)
    split = SplitSpec(**card["split"])
    assert split.validation == 0.0  # a verdict's final run is scored on test rows
    _, test = train_test_split(
        np.arange(len(frame)), test_size=split.test_size, random_state=split.seed
    )
    return frame.iloc[test]


@pytest.mark.slow
def test_predict_on_held_back_rows_scores_the_runs_auc(exported, tmp_path, capsys):
    results, model = exported
    card = json.loads((model / "model_card.json").read_text())
    search = json.loads((results / "search.json").read_text())
    best = max(
        (e for e in search["entries"] if e["activation"].startswith("candidate")),
        key=lambda e: e["val_score"],
    )
    assert card["formula"] == best["formula"]
    assert card["run_key"] in {key for _, key in best["finals"]}
    assert card["data"]["fingerprint"] == search["data"]["fingerprint"]
    held = _held_back_rows(card)
    held.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(model), str(tmp_path / "new.csv"), "--out", str(out)]) == 0
    predictions = pd.read_csv(out)
    assert len(predictions) == len(held)
    auc = roc_auc_score(held["species"] == "Adelie", predictions["p(Adelie)"])
    assert auc == pytest.approx(card["metrics"]["stored"]["auc"], abs=1e-9)
    assert set(predictions["prediction"]) <= {"Adelie", "not Adelie"}


@pytest.mark.slow
def test_onnx_file_carries_preprocessing_and_agrees_with_torch(exported):
    import onnxruntime as ort

    from symact.export import Preprocessing, load_model

    _, model = exported
    session = ort.InferenceSession(str(model / "model.onnx"))
    meta = session.get_modelmeta().custom_metadata_map
    pre = Preprocessing.from_dict(json.loads(meta["symact_preprocessing"]))
    frame = pd.read_csv(PENGUINS)
    x = pre.transform(frame)
    _, onnx_p = session.run(None, {"x": x})
    torch_p = load_model(model).predict_proba(frame)[:, 1]
    np.testing.assert_allclose(onnx_p[:, 0], torch_p, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_a_file_with_other_columns_is_refused_in_one_line(exported, tmp_path, capsys):
    _, model = exported
    pd.read_csv(PENGUINS).drop(columns=["island"]).to_csv(tmp_path / "odd.csv", index=False)
    capsys.readouterr()
    status = main(["predict", str(model), str(tmp_path / "odd.csv"), "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "missing ['island']" in err and "odd.csv" in err
    assert len(err.splitlines()) <= 3  # one line, wrapped by the console at 80 columns
    assert not (tmp_path / "p").exists()


def test_export_names_a_missing_results_folder_in_one_line(tmp_path, capsys):
    status = main(["export", str(tmp_path / "m"), "--from", str(tmp_path), "--best"])
    assert status == 2 and "holds no symact.sqlite" in capsys.readouterr().err

"""Missing values on a real table (Palmer penguins, 19 missing cells; see the fixture README):
imputed per split from its training rows only, indicator columns, ``drop`` and ``refuse``,
the discovery sample, the DataSpec field, and both training paths on the imputed rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.model_selection import train_test_split

from symact.data import DataError, load_dataset, split_standardize
from symact.data.missing import fill_values, impute
from symact.discovery import GplearnSettings, discover_gplearn
from symact.discovery.gplearn import discovery_sample
from symact.experiments.datacache import make_split
from symact.experiments.specs import DataSpec, RunSpec, SplitSpec
from symact.models import LIGHT
from symact.training import TrainConfig, TrainTask, train_stack

PENGUINS = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "penguins.csv"
ADELIE = {"target": "species", "positive": "Adelie"}
MEASURES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.read_csv(PENGUINS)


@pytest.fixture(scope="module")
def penguins():
    return load_dataset(PENGUINS, **ADELIE)


def test_the_fixture_has_missing_numbers_and_text(frame):
    counts = frame.isna().sum()
    assert counts[MEASURES].tolist() == [2, 2, 2, 2] and counts["sex"] == 11
    assert counts.sum() == 19 and len(frame) == 344


def test_impute_keeps_every_row_with_an_indicator_per_column_and_a_note(penguins, frame):
    ds = penguins
    assert ds.n_rows == 344
    names = list(ds.feature_names)
    for col in [*MEASURES, "sex"]:
        ind = names.index(f"{col} missing")
        np.testing.assert_array_equal(ds.X[:, ind], frame[col].isna().to_numpy())
    assert "island missing" not in names and "year missing" not in names  # none missing
    # missing cells stay NaN until a split fills them; the sex block is NaN across its levels
    i = names.index("bill_length_mm")
    np.testing.assert_array_equal(np.isnan(ds.X[:, i]), frame["bill_length_mm"].isna())
    assert ds.onehot_blocks == ((names.index("sex=female"), names.index("sex=male")),)
    assert np.isnan(ds.X[frame["sex"].isna().to_numpy()][:, list(ds.onehot_blocks[0])]).all()
    (note,) = [n for n in ds.provenance.notes if "missing cells" in n]
    assert note.startswith("19 missing cells in 5 column(s) of 344 rows, filled on each split")
    assert note.endswith(
        "'bill_length_mm' 2, 'bill_depth_mm' 2, 'flipper_length_mm' 2, 'body_mass_g' 2, 'sex' 11"
    )


def test_a_test_cell_gets_the_training_median_not_the_median_of_all_rows(penguins, frame):
    """Seed 42, the protocol's first seed, holds out row 3 (no measurement, no sex). Its
    training part's bill length median is 44.5 while all rows' is 44.45, and its training
    part has more females (135 vs 131) while all rows have more males (168 vs 165): the
    imputed test cells must carry the training part's values."""
    seed = 42
    train_idx, test_idx = train_test_split(np.arange(344), test_size=0.2, random_state=seed)
    assert 3 in test_idx
    bill = frame["bill_length_mm"]
    train_median, all_median = bill.iloc[train_idx].median(), bill.median()
    assert (train_median, all_median) == (44.5, 44.45)
    sex_train = frame["sex"].iloc[train_idx].value_counts()
    assert sex_train.idxmax() == "female" and frame["sex"].value_counts().idxmax() == "male"

    split = split_standardize(
        penguins.X, penguins.y, seed=seed, onehot_blocks=penguins.onehot_blocks
    )
    names = list(penguins.feature_names)
    row = int(np.flatnonzero(test_idx == 3)[0])

    def standardized(col: str, value: float, train_column: pd.Series) -> float:
        filled = train_column.fillna(value).to_numpy(dtype=np.float64)
        return (value - filled.mean()) / filled.std()

    got = split.X_test[row, names.index("bill_length_mm")]
    train_bill = bill.iloc[train_idx]
    assert got == pytest.approx(standardized("bill", train_median, train_bill), abs=1e-5)
    assert abs(got - standardized("bill", all_median, train_bill)) > 1e-3
    female = (
        (frame["sex"].iloc[train_idx] == "female")
        .astype(float)
        .where(frame["sex"].iloc[train_idx].notna())
    )
    got_female = split.X_test[row, names.index("sex=female")]
    assert got_female == pytest.approx(standardized("female", 1.0, female), abs=1e-5)
    assert np.isfinite(split.X_train).all() and np.isfinite(split.X_test).all()


def test_fill_values_read_only_the_rows_they_are_given():
    X = np.array([[1.0, 1.0, 0.0], [np.nan, np.nan, np.nan], [5.0, 0.0, 1.0], [9.0, 0.0, 1.0]])
    fill = fill_values(X, onehot_blocks=[(1, 2)])
    assert fill.tolist() == [5.0, 0.0, 1.0]  # median 5; level 2 twice, level 1 once
    _, other = impute(X[:2], X[1:], onehot_blocks=[(1, 2)])
    assert other[0].tolist() == [1.0, 1.0, 0.0]  # from the first row only
    same = np.ones((3, 2))
    assert impute(same)[0] is same  # nothing missing: the array itself, untouched


def test_drop_leaves_out_rows_with_a_missing_cell_and_says_how_many(frame):
    ds = load_dataset(PENGUINS, **ADELIE, missing="drop")
    assert ds.n_rows == 333 == len(frame.dropna())
    assert not np.isnan(ds.X).any() and ds.onehot_blocks == ()
    assert not any(name.endswith(" missing") for name in ds.feature_names)
    (note,) = [n for n in ds.provenance.notes if n.startswith("dropped")]
    assert note.startswith("dropped 11 of 344 rows with a missing value (missing cells:")
    np.testing.assert_array_equal(ds.y, (frame.dropna()["species"] == "Adelie").to_numpy())


def test_refuse_is_one_line_naming_file_column_first_row_and_the_fix():
    with pytest.raises(DataError) as err:
        load_dataset(PENGUINS, **ADELIE, missing="refuse")
    msg = err.value.render("cli")
    assert "\n" not in msg
    assert msg.startswith(f"{PENGUINS}: column 'bill_length_mm' is missing in data row 4 (2 rows")
    assert "--missing impute" in msg and "--missing drop" in msg
    assert "missing='impute'" in str(err.value)  # the Python spelling for Python callers
    with pytest.raises(DataError, match="missing='sometimes' is not a missing-value policy"):
        load_dataset(PENGUINS, **ADELIE, missing="sometimes")


def test_a_missing_label_cannot_be_imputed_its_rows_are_left_out(frame):
    ds = load_dataset(PENGUINS, target="sex", positive="male")
    assert ds.n_rows == 333 and ds.provenance.notes[0] == (
        "dropped 11 of 344 rows whose label 'sex' is missing (a label cannot be imputed)"
    )
    assert np.isnan(ds.X).sum() == 0  # the 2 rows missing measurements miss sex too
    with pytest.raises(
        DataError, match="column 'sex' is missing in data row 4 \\(11 rows in all\\)"
    ):
        load_dataset(PENGUINS, target="sex", positive="male", drop=MEASURES, missing="refuse")


def test_the_discovery_sample_is_imputed_from_its_own_rows(penguins):
    settings = GplearnSettings(subsample=1.0, generations=1, population_size=20)
    Xs, _ = discovery_sample(penguins.X, penguins.y, settings, penguins.onehot_blocks)
    assert np.isfinite(Xs).all()
    found = discover_gplearn(penguins, settings=settings)
    assert found.n_samples == 344 and np.isfinite(found.fitness)


def test_dataspec_missing_is_validated_and_absent_from_the_key_at_its_default():
    plain = DataSpec("mine.csv", target="y")
    assert "missing" not in plain.to_dict()
    assert DataSpec.from_dict(plain.to_dict()) == plain
    dropping = DataSpec("mine.csv", target="y", missing="drop")
    assert dropping.to_dict()["missing"] == "drop"
    assert DataSpec.from_dict(dropping.to_dict()) == dropping
    run = RunSpec(plain, LIGHT, seed=1)
    assert run.key() != RunSpec(dropping, LIGHT, seed=1).key()
    with pytest.raises(ValueError, match="missing must be one of"):
        DataSpec("mine.csv", missing="mean")


def test_both_training_paths_train_the_same_models_on_the_imputed_rows(penguins, monkeypatch):
    split = make_split(penguins, SplitSpec(seed=42))
    assert np.isfinite(split.X_train).all()
    tasks = [
        TrainTask(
            split.X_train,
            split.y_train,
            split.X_test,
            split.y_test,
            LIGHT.with_activation(a),
            seed=i + 1,
        )
        for i, a in enumerate(["relu", "gelu", "mul(cos(x), x)"])
    ]
    out = {}
    for backend in ("fused", "torch"):
        monkeypatch.setenv("SYMACT_KERNELS", backend)
        out[backend] = train_stack(tasks, TrainConfig(epochs=2), return_models=True)
    for a, b in zip(out["fused"], out["torch"], strict=True):
        assert (a.backend, b.backend) == ("fused", "torch") and not a.failed
        weights = zip(a.model.named_parameters(), b.model.parameters(), strict=True)
        for (name, p), q in weights:
            torch.testing.assert_close(p, q, atol=1e-4, rtol=0, msg=name)
        np.testing.assert_allclose(a.loss_history, b.loss_history, rtol=1e-4)
        assert abs(a.auc - b.auc) < 1e-3

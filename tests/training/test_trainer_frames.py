"""A pandas DataFrame and Series are array-likes a user hands ``TrainTask`` directly."""

from __future__ import annotations

import warnings

import pandas as pd

from symact.models import LIGHT
from symact.training import TrainConfig, TrainTask, train_stack


def test_dataframes_train_without_warnings_and_as_their_arrays(spam_split):
    X_train, y_train, X_eval, y_eval = spam_split
    frames = (
        pd.DataFrame(X_train),
        pd.Series(y_train),
        pd.DataFrame(X_eval),
        pd.Series(y_eval),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's "non-writable array" warning fails here
        from_frames = train_stack([TrainTask(*frames, LIGHT, seed=3)], TrainConfig(epochs=1))[0]
    from_arrays = train_stack([TrainTask(*spam_split, LIGHT, seed=3)], TrainConfig(epochs=1))[0]
    assert not from_frames.failed
    assert from_frames.auc == from_arrays.auc and from_frames.loss_history == (
        from_arrays.loss_history
    )

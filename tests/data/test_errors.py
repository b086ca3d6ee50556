"""DataError's option mentions: one message, spelled for Python callers or for the CLI."""

from __future__ import annotations

import pickle

import pytest

from symact.data import DataError, Option, load_dataset, render_error


def test_an_option_is_spelled_as_its_user_types_it():
    err = DataError(
        "labels are 'no', 'yes'; pass ",
        Option("positive", placeholder="<class>"),
        ", e.g. ",
        Option("positive", value="yes"),
        ", or set ",
        Option("data_dir"),
        " and ",
        Option("drop", value=["id", "free text"]),
    )
    assert str(err) == (
        "labels are 'no', 'yes'; pass positive=<class>, e.g. positive='yes', or set data_dir= "
        "and drop=['id', 'free text']"
    )
    assert err.render("cli") == (
        "labels are 'no', 'yes'; pass --positive <class>, e.g. --positive yes, or set "
        "--data-dir and --drop 'id,free text'"
    )
    assert err.options == ("positive", "positive", "data_dir", "drop") and err.option == "positive"
    assert isinstance(err, ValueError) and DataError("plain").option is None


def test_a_flag_can_differ_from_the_parameter():
    seed = Option("seed", value=-1, flag="--seeds")
    assert seed.render("python") == "seed=-1" and seed.render("cli") == "--seeds -1"


def test_the_parts_survive_pickling():
    # errors of the benchmark's discovery child reach the parent through a pipe
    with pytest.raises(DataError) as caught:
        load_dataset("breast_cancer", labels="many")
    bare = DataError("set ", Option("data_dir"), " or ", Option("positive", placeholder="<c>"))
    assert pickle.loads(pickle.dumps(bare)).render("cli") == "set --data-dir or --positive <c>"
    back = pickle.loads(pickle.dumps(caught.value))
    assert type(back) is DataError and back.parts == caught.value.parts
    assert back.render("cli") == "--labels many is not a label mode; use 'binary' or 'all' " + (
        "(binary: two classes, 0/1; all: every class, 0..C-1)"
    )


def test_render_error_takes_any_exception():
    assert render_error(DataError(Option("rows", value=0), " is bad")) == "--rows 0 is bad"
    assert render_error(DataError(Option("rows", value=0), " is bad"), "python") == "rows=0 is bad"
    assert render_error(ValueError("other")) == "other"

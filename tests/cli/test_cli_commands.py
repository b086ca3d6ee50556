"""The other subcommands, and errors that reach the user as one clear line."""

from __future__ import annotations

import subprocess
import sys

from symact.cli import main


def test_discover_prints_every_form_of_the_formula(canonical_data_dir, capsys):
    argv = [
        "discover",
        "--dataset",
        "spambase",
        "--data-dir",
        str(canonical_data_dir),
        "--generations",
        "2",
        "--population-size",
        "60",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    for key in ("program", "activation", "simplified", "latex", "fitness"):
        assert f"\n{key}" in "\n" + out, key
    activation = next(line for line in out.splitlines() if line.startswith("activation"))
    assert "X" not in activation


def test_discover_on_a_user_csv_needs_a_positive_class_for_text_labels(tmp_path, capsys):
    path = tmp_path / "mine.csv"
    rows = ["a,b,label"] + [f"{i},{(i * 7) % 5},{'yes' if i % 3 else 'no'}" for i in range(60)]
    path.write_text("\n".join(rows) + "\n")
    assert main(["discover", "--dataset", str(path), "--target", "label"]) == 2
    err = capsys.readouterr().err
    assert "positive" in err
    argv = [
        "discover",
        "--dataset",
        str(path),
        "--target",
        "label",
        "--positive",
        "yes",
        "--generations",
        "1",
        "--population-size",
        "20",
        "--subsample",
        "1.0",
    ]
    assert main(argv) == 0


def test_missing_dataset_file_is_one_clear_line(tmp_path, capsys):
    assert main(["discover", "--dataset", str(tmp_path / "nope.csv")]) == 2
    err = capsys.readouterr().err
    assert "nope.csv" in err and "Traceback" not in err


def test_datasets_lists_the_registry_and_what_is_cached(canonical_data_dir, capsys):
    assert main(["datasets", "--data-dir", str(canonical_data_dir)]) == 0
    out = capsys.readouterr().out
    for name in ("higgs", "covertype", "spambase", "breast_cancer", "digits"):
        assert name in out
    assert "yes" in out


def test_bad_arguments_are_rejected_before_any_work(capsys):
    for argv in (["benchmark", "--epochs", "0"],):
        try:
            main(argv)
        except SystemExit as exc:  # argparse's own checks
            assert exc.code == 2
        else:
            raise AssertionError(f"{argv} was accepted")
    assert main(["benchmark", "--suite", "nope"]) == 2  # neither a suite nor a suite file
    assert main(["benchmark", "--seeds", "a,b"]) == 2
    assert "--seeds: 'a' is not a seed" in capsys.readouterr().err
    assert main(["benchmark", "--device", "tpu"]) == 2
    assert "--device must be" in capsys.readouterr().err


def test_python_dash_m_is_the_same_command():
    r = subprocess.run(
        [sys.executable, "-m", "symact", "--help"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0
    assert "benchmark" in r.stdout and "discover" in r.stdout and "datasets" in r.stdout

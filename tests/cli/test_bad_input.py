"""Bad command lines fail before any work, as one line that names the flag and the fix.

Issue #10: "fail before work, one line, nothing lost". Each case runs the real command and
checks its exit status, the line (the flag, token, file or folder it is about, and what to
do; no traceback), and that nothing was trained or created: no ``--out`` folder, no
``symact.sqlite``, no data folder, and (in a fresh interpreter) not even an import of torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from cli_helpers import FAST, csv_rows, listing

# --------------------------------------------------------------------------- activations


def test_a_comma_inside_parentheses_does_not_split_an_activation(symact, tmp_path):
    out = tmp_path / "out"
    r = symact(
        "benchmark", "--datasets", "breast_cancer", "--activations", "relu,mul(cos(x), x)",
        *FAST, "--out", str(out),
    )  # fmt: skip
    assert r.status == 0, r.err
    rows = csv_rows(out / "final_efficiency_results.csv")
    assert sorted((x["Architecture"], x["Activation"]) for x in rows) == [
        ("Heavy", "ReLU"),
        ("Light", "ReLU"),
        ("Light", "mul(cos(x), x)"),
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("relu,x**", "--activations: 'x**' is neither a named activation"),
        ("relu,relu", "--activations: 'relu' is listed twice"),
        ("relu,ReLU", "--activations: 'ReLU' is listed twice (as relu)"),
        ("relu,", "--activations: an empty activation in 'relu,'"),
        ("relu,mul(x", "--activations: 'mul(x' is neither a named activation"),
        ("relu,2,0*x", "--activations: activation 2 of 3, '2', is constant"),
        ("relu,0*x", "--activations: activation 2 of 2, '0*x', is constant"),
        ("sub(x, x),gelu", "--activations: activation 1 of 2, 'sub(x, x)', is constant"),
    ],
)
def test_a_bad_activation_list_is_one_line(symact, tmp_path, value, expected):
    out = tmp_path / "out"
    r = symact("benchmark", "--datasets", "breast_cancer", "--activations", value, *FAST,
               "--out", str(out))  # fmt: skip
    assert r.status == 2
    assert r.error.startswith(f"error: {expected}")
    assert not out.exists()


def test_a_linear_activation_is_trained_with_a_note(symact, tmp_path):
    r = symact("benchmark", "--datasets", "breast_cancer", "--activations", "relu,2*x,identity",
               *FAST, "--heavy-widths", "none", "--out", str(tmp_path / "out"))  # fmt: skip
    assert r.status == 0, r.err
    notes = [line for line in r.out.splitlines() if line.startswith("note --activations")]
    assert notes == [
        "note --activations: activation 2, mul(2.0, x), is linear (a network with it is a "
        "linear model); it is trained as asked (symact search would reject it)",
        "note --activations: activation 3, identity, is linear (a network with it is a "
        "linear model); it is trained as asked (symact search would reject it)",
    ]


def test_a_formula_error_names_the_position(symact, tmp_path):
    r = symact("benchmark", "--datasets", "breast_cancer", "--activations", "relu,x**", *FAST,
               "--out", str(tmp_path / "out"))  # fmt: skip
    assert "at position 3 (near 'x**')" in r.error


# --------------------------------------------------------------------------- datasets, seeds


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--datasets", ","], "--datasets: no name given (got ','); list at least one"),
        (["--datasets", ""], "--datasets: no name given"),
        (["--datasets", "breast_cancer,"], "--datasets: an empty name in 'breast_cancer,'"),
        (["--datasets", "digits,DIGITS"], "--datasets: 'digits' is named twice"),
        (["--seeds", "42,42"], "--seeds: seed 42 is listed twice; list each seed once"),
        (["--seeds", "-5"], "--seeds: '-5' is not a seed or a range; write e.g. --seeds 42,43"),
        (["--seeds", "3-1"], "--seeds: the range '3-1' runs backwards; write 1-3"),
        (["--seeds", "4294967296"], "--seeds: seed 4294967296 is above 4294967295"),
        (["--seeds", "42,,44"], "--seeds: an empty seed in '42,,44'; remove the extra comma"),
        (["--gp-seed", "1,2"], "--gp-seed takes one seed, got '1,2'; for several discoveries"),
        (["--lr", "inf"], "--lr must be a finite number > 0, got inf"),
        (["--lr", "nan"], "--lr must be a finite number > 0, got nan"),
        (["--weight-decay", "nan"], "--weight-decay must be a finite number >= 0, got nan"),
        (["--n-seeds", "3", "--seeds", "1"], "--seeds and --n-seeds both given; use one"),
        (["--gp-seed", "x"], "--gp-seed: 'x' is not a seed"),
        (["--device", "tpu"], "--device must be 'cpu', 'cuda' or 'auto', got 'tpu'"),
        (["--widths", "64,0"], "--widths: widths must be integers from 1 to 100000"),
        (["--transfer", "spambase"], "--transfer: 'spambase' is not one of this run's datasets"),
        (["--function-set", "add,exp"], "--function-set: 'exp' is not a gplearn function"),
    ],
)
def test_a_bad_flag_is_one_line_naming_it(symact, tmp_path, argv, expected):
    out = tmp_path / "out"
    base = ["benchmark", "--datasets", "breast_cancer,digits", "--data-dir", str(tmp_path / "d")]
    r = symact(*base, "--seeds", "42", *argv, "--out", str(out))
    assert r.status == 2
    assert r.error.startswith(f"error: {expected}"), r.error
    assert listing(tmp_path) == []  # no --out folder, no data folder


def test_two_files_with_one_stem_are_refused_before_training(symact, mail_csv, tmp_path):
    other = tmp_path / "b" / "mail.csv"
    other.parent.mkdir()
    other.write_bytes(mail_csv.read_bytes())
    out = tmp_path / "out"
    before = listing(tmp_path)
    r = symact(
        "benchmark", "--datasets", f"{mail_csv},{other}", "--target", "y", "--positive", "yes",
        "--drop", "id", *FAST, "--out", str(out),
    )  # fmt: skip
    assert r.status == 2
    assert r.error == (
        f"error: --datasets: {str(mail_csv)!r} and {str(other)!r} would both be called MAIL "
        "in the tables; rename a file"
    )
    assert listing(tmp_path) == before


def test_a_file_named_like_a_registry_dataset_beside_it_is_refused(
    symact, mail_csv, tmp_path, canonical_data_dir
):
    mine = tmp_path / "higgs.csv"
    mine.write_bytes(mail_csv.read_bytes())
    out = tmp_path / "out"
    before = listing(tmp_path)
    r = symact(
        "benchmark", "--datasets", f"higgs,{mine}", "--data-dir", str(canonical_data_dir),
        "--target", "y", "--positive", "yes", "--drop", "id", *FAST, "--out", str(out),
    )  # fmt: skip
    assert r.status == 2
    assert r.error == (
        f"error: --datasets: 'higgs' and {str(mine)!r} would both be called HIGGS in the "
        "tables; rename a file"
    )
    assert listing(tmp_path) == before


def test_a_missing_file_names_it_and_the_registry(symact, tmp_path):
    r = symact("benchmark", "--datasets", str(tmp_path / "nope.csv"), *FAST,
               "--out", str(tmp_path / "out"))  # fmt: skip
    assert r.status == 2
    assert r.error.startswith(f"error: --datasets: {str(tmp_path / 'nope.csv')!r}: file not found")
    assert "known datasets: higgs, covertype, spambase" in r.error
    r = symact("benchmark", "--datasets", "higs", *FAST, "--out", str(tmp_path / "out"))
    assert r.error.startswith("error: --datasets: 'higs': not a registry dataset or a file")
    assert listing(tmp_path) == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["benchmark", "--epochs", "0"], "argument --epochs: expected a positive integer, got 0"),
        # --suite nope: also a suite file's name, see test_suite_file_cli.py
        (["benchmark", "--subsample", "2"], "argument --subsample: expected a number in (0, 1]"),
        (["benchmark", "--bogus"], "unrecognized arguments: --bogus"),
        # a bare `symact` prints its help instead: tests/cli/test_help.py
    ],
)
def test_argparse_errors_are_one_line_too(capsys, tmp_path, monkeypatch, argv, expected):
    from symact.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines()  # no usage block before it
    assert line.startswith(f"error: {expected}") and line.endswith(" --help`)")
    assert listing(tmp_path) == []


@pytest.mark.parametrize(
    "command",
    [("benchmark", "--datasets", "breast_cancer", *FAST), ("search", "--dataset", "breast_cancer")],
)
def test_an_empty_out_is_refused_not_the_current_folder(symact, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    r = symact(*command, "--out", "")
    assert r.status == 2
    assert r.error == "error: --out is empty; name a folder, e.g. --out results"
    assert listing(tmp_path) == []  # no outputs and no store in the current folder


# --------------------------------------------------------------------------- before any import

# Each command line in a fresh interpreter: its status, whether torch (or matplotlib) got
# imported, and what it printed. Prints one JSON line per command.
NO_IMPORT = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from symact.cli import main
    for argv in json.loads(sys.argv[1]):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = main(argv)
        heavy = [m for m in ("torch", "matplotlib", "sklearn") if m in sys.modules]
        print(json.dumps({"argv": argv, "status": status, "heavy": heavy, "err": err.getvalue()}))
    """
)


def test_argument_errors_come_before_any_heavy_import_and_leave_nothing(tmp_path, mail_csv):
    """A fresh interpreter per batch: every argument error is found with torch unimported,
    and nothing (``results/`` by default, the data folder, a store) is created."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "taken").write_text("a file, not a folder\n")
    twin = work / "b" / "mail.csv"
    twin.parent.mkdir()
    twin.write_bytes(mail_csv.read_bytes())
    (work / "higgs.csv").write_bytes(mail_csv.read_bytes())
    data = ["--data-dir", str(work / "data")]
    files = ["--target", "y", "--positive", "yes", "--drop", "id"]
    cases = [
        ["benchmark", "--seeds", "42,42"],
        ["benchmark", "--seeds", "-5"],
        ["benchmark", "--seeds", "3-1"],
        ["benchmark", "--n-seeds", "3", "--seeds", "1"],
        ["benchmark", "--activations", "relu,x**"],
        ["benchmark", "--activations", "relu,relu"],
        ["benchmark", "--datasets", ","],
        ["benchmark", "--device", "tpu"],
        ["benchmark", "--datasets", "spambase", "--positive", "yes"],
        ["benchmark", "--datasets", f"{mail_csv},{twin}", *files],
        ["benchmark", "--datasets", f"higgs,{work / 'higgs.csv'}", *files],
        ["benchmark", "--datasets", "nope.csv"],
        ["benchmark", "--out", "taken"],
        ["benchmark", "--out", "taken/deeper"],
        ["benchmark", "--labels", "all"],
        ["report", str(work / "nothing-here")],
    ]
    argvs = [argv + data if argv[0] == "benchmark" else argv for argv in cases]
    before = listing(work)
    run = subprocess.run(
        [sys.executable, "-c", NO_IMPORT, json.dumps(argvs)],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    results = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(results) == len(argvs)
    for r in results:
        assert r["status"] == 2, r
        assert r["heavy"] == [], f"{r['argv']} imported {r['heavy']} before refusing"
        lines = r["err"].strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), r
    by_flag = [r["err"] for r in results]
    assert "--out taken is a file; name a folder" in by_flag[12]
    assert "taken is a file, not a folder" in by_flag[13]
    assert "--labels all: the paper's gplearn discovery fits binary tasks only" in by_flag[14]
    assert listing(work) == before  # no results/, no data/, no symact.sqlite


# --------------------------------------------------------------------------- rich markup


def test_paths_with_brackets_print_literally(symact, tmp_path, mail_csv):
    out = tmp_path / "results [v2]"
    r = symact("benchmark", "--datasets", "breast_cancer", "--activations", "relu", *FAST,
               "--out", str(out))  # fmt: skip
    assert r.status == 0, r.err
    assert f"Outputs in {out}/ (report.html)" in r.out
    assert (out / "report.html").is_file()

    # "[/]" closes a tag and "[red]" opens one in rich markup: both are path text here
    folder = tmp_path / "[red]x["
    folder.mkdir()
    data = folder / "]mail [bold].csv"
    data.write_bytes(mail_csv.read_bytes())
    out = tmp_path / "res [/]" / "[red]"
    r = symact(
        "benchmark", "--datasets", str(data), "--target", "y", "--positive", "yes",
        "--drop", "id", "--activations", "relu", *FAST, "--out", str(out),
    )  # fmt: skip
    assert r.status == 0, r.err
    assert "note ]MAIL [BOLD]: label column 'y' of ]mail [bold].csv: 400 rows;" in r.out
    assert f"Outputs in {out}/ (report.html)" in r.out
    assert "MarkupError" not in r.out + r.err and "Traceback" not in r.out + r.err


def test_error_lines_with_brackets_print_literally(symact, tmp_path, mail_csv):
    folder = tmp_path / "[red]x["
    folder.mkdir()
    data = folder / "]mail [bold].csv"
    data.write_bytes(mail_csv.read_bytes())
    taken = folder / "]taken[red]"  # [red]x[/]taken[red]
    taken.write_text("x\n")
    cases = [
        (  # a data error: the path and the column inside the line
            ["--datasets", str(data), "--target", "y", "--positive", "yes"],
            f"error: feature column 'id' of {data} is not numeric",
        ),
        (["--datasets", str(tmp_path / "[/]nope.csv")], repr(str(tmp_path / "[/]nope.csv"))),
        (["--datasets", "breast_cancer", "--out", str(taken)], f"error: --out {taken} is a file"),
        (["--datasets", "breast_cancer", "--activations", "relu,[/]"], "'[/]' is neither"),
    ]
    for argv, expected in cases:
        out = ["--out", str(tmp_path / "out [/]")] if "--out" not in argv else []
        r = symact("benchmark", *FAST, *argv, *out)
        assert r.status == 2, r.err
        assert expected in r.error
    assert not (tmp_path / "out [").exists()


# --------------------------------------------------------------------------- symact report


def test_report_on_a_folder_without_a_store_is_one_line(symact, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    a_file = tmp_path / "my.csv"
    a_file.write_text("a,b\n1,2\n")
    written_by = "name a folder written by symact benchmark --out or symact search --out"
    for folder, what in (
        (empty, "holds no results store (symact.sqlite)"),
        (tmp_path / "missing", "does not exist"),
        (a_file, "is a file, not a results folder"),
    ):
        r = symact("report", str(folder))
        assert r.status == 2
        assert r.error == f"error: {folder} {what}; {written_by}"
    assert listing(tmp_path) == ["empty", "my.csv"]


def test_report_on_a_store_without_a_finished_benchmark_is_one_line(symact, tmp_path):
    from symact.experiments import ResultsStore

    store = tmp_path / "out" / "symact.sqlite"
    with ResultsStore(store) as s:  # a run stored, as by a benchmark interrupted mid-grid
        s.put_run("k", {"seed": 42}, {"accuracy": 0.5})
    before = listing(tmp_path)
    r = symact("report", str(store.parent))
    assert r.status == 2
    assert r.error == (
        f"error: {store} holds no finished benchmark or search; finish one with the same "
        "--out first"
    )
    assert listing(tmp_path) == before  # no outputs, no staging folder, no lock file

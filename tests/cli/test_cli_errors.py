"""Errors that tell the truth (issue #18): a user's mistake is one line and exit status 2;
anything else is a bug in symact, one line saying so and naming the file that holds its
traceback, exit status 1.

The bug is real code failing: a subprocess replaces one of symact's functions with one that
divides by zero, then runs the real command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import FAST, CliResult

from symact.errors import UserError

#: replaces ``symact.cli.checks.check_out`` (run by every benchmark) with a function that fails
#: the way a bug does, then runs the command with the arguments that follow
INJECT = """
import sys
import symact.cli.checks

def check_out(out, **options):
    return 1 / 0  # the injected bug

symact.cli.checks.check_out = check_out
sys.exit(symact.cli.main(sys.argv[1:]))
"""


def _run_with_bug(argv: list[str], tmp: Path) -> CliResult:
    env = dict(os.environ, TMPDIR=str(tmp))
    r = subprocess.run(
        [sys.executable, "-c", INJECT, *argv], capture_output=True, text=True, env=env, timeout=120
    )
    return CliResult(r.returncode, r.stdout, r.stderr)


def _bug_line(r: CliResult) -> str:
    assert r.status == 1, f"a bug must exit 1, got {r.status}:\n{r.err}"
    lines = [line for line in r.err.splitlines() if line.strip()]
    assert len(lines) == 1, r.err
    assert "Traceback" not in r.out + r.err
    (line,) = lines
    assert line.startswith("error: this is a bug in symact, not a problem with your input")
    assert "ZeroDivisionError: division by zero" in line
    return line


def _traceback_file(line: str) -> Path:
    path = Path(line.split("the full traceback is in ", 1)[1].split("; please report")[0])
    assert path.name.startswith("symact-error-") and path.suffix == ".log", line
    text = path.read_text()
    assert text.startswith("Traceback (most recent call last):")
    assert 'File "<string>", line 6, in check_out' in text  # the injected function
    assert "in checked_out_and_executor\n    check_out(out" in text  # and its caller
    assert text.rstrip().endswith("ZeroDivisionError: division by zero")
    return path


def test_an_injected_bug_exits_1_naming_the_traceback_file_in_out(tmp_path, canonical_data_dir):
    out = tmp_path / "out"
    out.mkdir()
    argv = ["benchmark", "--datasets", "spambase", "--data-dir", str(canonical_data_dir)]
    r = _run_with_bug([*argv, *FAST, "--out", str(out)], tmp_path)
    path = _traceback_file(_bug_line(r))
    assert path.parent == out


def test_without_an_out_folder_the_traceback_goes_to_the_temp_folder(tmp_path, canonical_data_dir):
    temp = tmp_path / "temp"
    temp.mkdir()
    out = tmp_path / "not-yet"
    argv = ["benchmark", "--datasets", "spambase", "--data-dir", str(canonical_data_dir)]
    r = _run_with_bug([*argv, *FAST, "--out", str(out)], temp)
    path = _traceback_file(_bug_line(r))
    assert path.parent == temp
    assert not out.exists()


def test_a_user_error_is_still_one_line_and_exit_2(symact, tmp_path):
    r = symact("benchmark", "--datasets", str(tmp_path / "missing.csv"), *FAST)
    assert "missing.csv" in r.error and "file not found" in r.error


def test_every_user_error_type_shares_one_base():
    from symact.cli import UsageError
    from symact.data.errors import DataError
    from symact.experiments.background import DiscoveryProcessDied
    from symact.experiments.lock import ResultsInUse
    from symact.experiments.ray_executor import RayConnectError, RayNotInstalled
    from symact.experiments.store import StoreError
    from symact.formula import FormulaError
    from symact.training.kernel_cache import KernelDirError

    kinds = (UsageError, DataError, FormulaError, StoreError, ResultsInUse, RayConnectError)
    for kind in (*kinds, RayNotInstalled, DiscoveryProcessDied, KernelDirError):
        assert issubclass(kind, UserError), kind
    for kind in kinds:  # callers that catch ValueError still do
        assert issubclass(kind, ValueError), kind


def test_a_kernel_folder_others_can_write_is_refused_before_any_work(symact, tmp_path, monkeypatch):
    shared = tmp_path / "kernels"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("SYMACT_KERNEL_DIR", str(shared))
    monkeypatch.setenv("SYMACT_KERNELS", "auto")
    out = tmp_path / "out"
    r = symact("benchmark", "--datasets", "spambase", *FAST, "--out", str(out))
    assert f"the kernel cache folder {shared} is writable by others" in r.error
    assert "SYMACT_KERNEL_DIR" in r.error
    assert not out.exists() and list(shared.iterdir()) == []


def test_a_file_stem_with_two_dollars_runs_end_to_end_and_is_drawn_literally(
    symact, tmp_path, shared_data
):
    """``price_$m_$k.csv`` would be mathtext (``$m_$``) in every figure that names it, and
    fail to draw after training; it is drawn as written."""
    from cli_helpers import MAIL_COLUMNS, csv_rows, mail_rows, write_csv
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.legend import Legend

    from symact.experiments import ResultsStore
    from symact.report.outputs import records
    from symact.report.plots import accuracy_vs_params_figure

    data = write_csv(
        tmp_path / "price_$m_$k.csv", MAIL_COLUMNS, mail_rows(shared_data / "spambase.data")
    )
    out = tmp_path / "out"
    label_options = ["--target", "y", "--positive", "yes", "--drop", "id"]
    r = symact("benchmark", "--datasets", str(data), *label_options, *FAST, "--out", str(out))
    assert r.status == 0, r.err
    assert "4 runs: 4 trained, 0 already stored, 0 failed" in r.out
    assert {x["Dataset"] for x in csv_rows(out / "final_efficiency_results.csv")} == {"PRICE_$M_$K"}
    assert (out / "accuracy_vs_params.png").read_bytes().startswith(b"\x89PNG")
    assert "PRICE_$M_$K" in (out / "report.html").read_text(encoding="utf-8")
    with ResultsStore(out / "symact.sqlite") as store:
        runs = records(store.get_document("suite"), store)
    fig = accuracy_vs_params_figure(runs)
    FigureCanvasAgg(fig).draw()  # mathtext would fail here
    (legend_text,) = [
        t for legend in fig.findobj(Legend) for t in legend.get_texts() if "PRICE" in t.get_text()
    ]
    assert legend_text.get_text() == "PRICE_$M_$K" and not legend_text.get_parse_math()


def test_a_dangling_out_link_is_refused_before_any_work_naming_it(symact, tmp_path):
    link = tmp_path / "results"
    link.symlink_to(tmp_path / "gone")
    r = symact("benchmark", "--datasets", "spambase", *FAST, "--out", str(link))
    assert r.error == (
        f"error: --out {link} is a symbolic link to {tmp_path / 'gone'}, which does not "
        "exist; create its target, or name a folder that exists or can be created"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_a_full_disk_while_outputs_are_written_is_a_user_error_naming_the_folder(tmp_path):
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    from symact.errors import OutputError
    from symact.report.outputs import staging

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(OutputError) as err, staging(out) as stage:
        (stage / "summary.csv").write_text("a,b\n")
        with open("/dev/full", "w") as full:
            full.write("x")
            full.flush()
    message = str(err.value)
    assert message.startswith(f"cannot write the outputs into {out} (No space left on device")
    assert f"then run `symact report {out}`" in message
    assert list(out.iterdir()) == []  # the staged file is not half moved in

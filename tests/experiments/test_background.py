"""Discovery in a forked child beside training: same results, errors and Ctrl-C handled."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from symact.discovery import GplearnSettings, discover_gplearn
from symact.experiments import DataCache, ResultsStore, make_suite, run_suite
from symact.experiments.background import DiscoveryJob, DiscoveryProcess
from symact.training import TrainConfig

QUICK_GP = GplearnSettings(population_size=80, generations=2)


def _suite():
    return make_suite("builtin", seeds=(1, 2), train=TrainConfig(epochs=3), discovery=QUICK_GP)


def _run(tmp_path, name: str, background: bool):
    with ResultsStore(tmp_path / f"{name}.sqlite") as store:
        outcome = run_suite(_suite(), store, DataCache(), background_discovery=background)
        runs = _runs(store, outcome)
        found = {k: store.get_discovery(s.key()) for k, s in _discovery_specs(outcome)}
    return outcome, runs, found


def _runs(store, outcome) -> dict:
    return {e.spec.key(): store.get_run(e.spec.key()) for e in outcome.entries}


def _discovery_specs(outcome):
    from symact.experiments.suites import discovery_specs

    return [(s.data.name, s) for s in discovery_specs(outcome.suite)]


def test_background_discovery_gives_the_suite_that_in_line_discovery_gives(tmp_path):
    events = []
    with ResultsStore(tmp_path / "bg.sqlite") as store:
        outcome = run_suite(_suite(), store, DataCache(), progress=lambda *a: events.append(a))
        bg_runs = _runs(store, outcome)
        bg_found = {k: store.get_discovery(s.key()) for k, s in _discovery_specs(outcome)}
    inline, inline_runs, inline_found = _run(tmp_path, "inline", background=False)

    assert {k: str(d.program) for k, d in outcome.discoveries.items()} == {
        k: str(d.program) for k, d in inline.discoveries.items()
    }
    assert all(bg_found.values()) and bg_found.keys() == inline_found.keys()
    for name in bg_found:  # stored records: the same program and formula
        assert bg_found[name]["program"] == inline_found[name]["program"]
    assert bg_runs.keys() == inline_runs.keys()
    assert len(bg_runs) == outcome.summary.total == 2 * (4 + 2) * 2  # datasets x configs x seeds
    for key, result in bg_runs.items():
        assert abs(result["auc"] - inline_runs[key]["auc"]) < 1e-4, key
    # progress: discovery counted 0..2, training's total grew when the formula runs arrived
    assert ("discovery", 2, 2) in events
    totals = [total for desc, _, total in events if desc == "training"]
    assert totals[0] < totals[-1] == 24 * 3


def test_a_rerun_finds_the_discoveries_stored_and_trains_nothing(tmp_path):
    with ResultsStore(tmp_path / "s.sqlite") as store:
        run_suite(_suite(), store, DataCache())
        again = run_suite(_suite(), store, DataCache())
    assert (again.summary.trained, again.summary.skipped) == (0, 24)


def _job(X, y, population: int = 80) -> DiscoveryJob:
    settings = GplearnSettings(population_size=population, generations=2)
    return DiscoveryJob("key", X, y, "data", settings)


def test_the_child_discovers_what_this_process_discovers(spam_xy):
    X, y = spam_xy
    proc = DiscoveryProcess([_job(X, y)])
    ((key, found),) = proc.results(timeout=None)
    assert key == "key" and not proc.pending()
    here = discover_gplearn(X, y, dataset="data", settings=_job(X, y).settings)
    assert found.program == here.program and found.activation == here.activation


def test_an_error_in_the_child_is_raised_here(spam_xy):
    X, y = spam_xy
    bad = X.copy()
    bad[:, 3] = np.inf  # scikit-learn's checks refuse infinities (NaN would be imputed)
    proc = DiscoveryProcess([_job(bad, y)])
    with pytest.raises(ValueError, match="infinity"):
        proc.results(timeout=None)
    assert not proc.pending()


def test_a_child_that_dies_is_reported_not_waited_for(spam_xy):
    X, y = spam_xy
    proc = DiscoveryProcess([_job(X, y, population=20_000)])
    os.kill(proc._process.pid, signal.SIGKILL)
    with pytest.raises(RuntimeError, match="discovery process ended"):
        proc.results(timeout=None)


def test_close_stops_a_running_child(spam_xy):
    X, y = spam_xy
    proc = DiscoveryProcess([_job(X, y, population=20_000)])
    time.sleep(0.2)
    start = time.perf_counter()
    proc.close()
    assert not proc._process.is_alive() and time.perf_counter() - start < 5
    assert not proc.pending()


@pytest.fixture(scope="module")
def spam_xy(shared_data):
    raw = np.loadtxt(shared_data / "spambase.data", delimiter=",")
    return raw[:2000, :-1], raw[:2000, -1].astype(np.int64)


def _head_start(tmp_path, store_name: str, only: str | None = None) -> DiscoveryProcess:
    """A discovery child that builds its own jobs, as ``symact benchmark`` forks it."""
    from symact.experiments.store import stored_keys
    from symact.experiments.suites import discovery_jobs

    def jobs():
        found = discovery_jobs(_suite(), DataCache(), stored_keys(tmp_path / store_name))
        return [j for j in found if only is None or j.display_name == only]

    return DiscoveryProcess(jobs)


def test_a_head_start_child_is_adopted_and_gives_the_same_suite(tmp_path):
    head = _head_start(tmp_path, "s.sqlite")
    with ResultsStore(tmp_path / "s.sqlite") as store:
        outcome = run_suite(_suite(), store, DataCache(), head_start=head)
        runs = _runs(store, outcome)
    assert head.delivered == 2 and not head.pending()  # both came from the head start
    inline, inline_runs, _ = _run(tmp_path, "inline", background=False)
    assert {k: str(d.program) for k, d in outcome.discoveries.items()} == {
        k: str(d.program) for k, d in inline.discoveries.items()
    }
    for key, result in runs.items():
        assert abs(result["auc"] - inline_runs[key]["auc"]) < 1e-4, key


def test_a_head_start_that_plans_other_work_is_replaced(tmp_path):
    with ResultsStore(tmp_path / "s.sqlite") as store:
        first = run_suite(_suite(), store, DataCache())  # everything stored
        # a child that plans one dataset where the store lacks none: stopped, not used
        head = _head_start(tmp_path, "empty.sqlite", only=first.labels["digits"])
        again = run_suite(_suite(), store, DataCache(), head_start=head)
    assert head.delivered == 0 and not head._process.is_alive()
    assert again.summary.trained == 0

    with ResultsStore(tmp_path / "t.sqlite") as store:  # it plans 1 of the 2 missing
        head = _head_start(tmp_path, "t.sqlite", only=first.labels["digits"])
        outcome = run_suite(_suite(), store, DataCache(), head_start=head)
    assert head.delivered == 0 and len(outcome.discoveries) == 2
    assert outcome.summary.trained == 24 and outcome.summary.failed == 0


def test_a_head_start_whose_jobs_fail_raises_here():
    def jobs():
        raise ValueError("no data for the head start")

    proc = DiscoveryProcess(jobs)
    with pytest.raises(ValueError, match="no data for the head start"):
        proc.plan()
    assert not proc.pending() and proc.results(timeout=0) == []


def test_stored_keys_reads_a_store_without_creating_one(tmp_path):
    from symact.experiments.store import stored_keys

    missing = tmp_path / "none" / "s.sqlite"
    assert stored_keys(missing) == set() and not missing.parent.exists()
    with ResultsStore(tmp_path / "s.sqlite") as store:
        store.put_discovery("d1", {}, {"program": "X0"})
        store.put_run("r1", {}, {"auc": 0.5})
        assert stored_keys(tmp_path / "s.sqlite") == {"d1"}  # while the store is open
    assert stored_keys(tmp_path / "s.sqlite", "runs") == {"r1"}
    (tmp_path / "junk.sqlite").write_text("not a database")
    assert stored_keys(tmp_path / "junk.sqlite") == set()
    with pytest.raises(ValueError, match="unknown table"):
        stored_keys(tmp_path / "s.sqlite", "users")


def test_the_discovery_childs_imports_leave_out_torch(shared_data):
    """The benchmark forks its discovery child before importing torch; the child's own work
    (suite, store, data, gplearn, the discovery's record) must not import it either, or it
    pays torch's ~1.5 s import."""
    shared = shared_data
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import symact.cli\n"
        "assert 'torch' not in sys.modules, 'the CLI module imports torch'\n"
        "from symact.experiments import DataCache\n"
        "from symact.experiments.background import serve\n"
        "from symact.experiments.store import stored_keys\n"
        "from symact.experiments.suites import discovery_jobs, make_suite\n"
        "from symact.discovery import discover_gplearn\n"
        "from symact.training import TrainConfig\n"
        "make_suite('paper', train=TrainConfig(epochs=2))\n"
        "import numpy as np\n"
        f"raw = np.loadtxt({str(shared / 'spambase.data')!r}, delimiter=',')[::6]\n"
        "from symact.discovery import GplearnSettings\n"
        "found = discover_gplearn(raw[:, :-1], raw[:, -1].astype(int), dataset='s',\n"
        "    settings=GplearnSettings(population_size=40, generations=2))\n"
        "found.to_dict()  # the stored record: simplified formula and LaTeX (sympy)\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

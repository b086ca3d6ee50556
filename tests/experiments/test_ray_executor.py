"""The Ray executor on real Ray processes: a local instance, a two-node cluster on this
machine (``ray.cluster_utils.Cluster``, as Ray's own tests do), a head started with
``ray start``; real data (the repository's slices), no mocks.

Every Ray process these tests start carries this module's ``RAY_TMPDIR`` in its
environment, which is how each test proves it left none behind.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

try:
    import ray
    from ray.cluster_utils import Cluster
except ImportError:  # each test that needs Ray fails, saying so; the others still run
    ray = Cluster = None

from symact.cli import main
from symact.experiments import DataCache, DataSpec, ResultsStore, RunSpec, run_grid
from symact.experiments.ray_executor import TASK_NAME, RayExecutor
from symact.models import HEAVY, LIGHT
from symact.training import TrainConfig, kernels

SPAMBASE = DataSpec("spambase")


# ----------------------------------------------------------------------------- processes


@pytest.fixture(scope="module")
def ray_env():
    """A short Ray temp folder of this module's own (socket paths are limited to 107
    bytes), and nothing that reaches the network; no Ray process may outlive the module."""
    if ray is None:
        pytest.fail('this test needs Ray: pip install -e ".[test]" (its extras include ray)')
    folder = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_TMPDIR", folder)
        mp.setenv("RAY_DISABLE_USAGE_STATS", "1")
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
        mp.delenv("RAY_ADDRESS", raising=False)
        yield folder
    left = _wait_gone(folder)
    shutil.rmtree(folder, ignore_errors=True)
    assert not left, f"Ray processes left behind: {left}"


def ray_processes(folder: str) -> dict[int, str]:
    """Live processes (pid -> command line) whose environment names ``folder`` as RAY_TMPDIR:
    every process of a Ray started by these tests, workers included."""
    marker = f"RAY_TMPDIR={folder}".encode()
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z":
                found[int(proc.name)] = (
                    (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                )
        except OSError:
            continue
    return found


def _wait_gone(folder: str, timeout: float = 15.0) -> dict[int, str]:
    deadline = time.time() + timeout
    while (left := ray_processes(folder)) and time.time() < deadline:
        time.sleep(0.2)
    return left


def _stop(folder: str) -> dict[int, str]:
    """Stop the Ray started with ``folder`` as its RAY_TMPDIR, and nothing else: SIGTERM to
    each of its processes, SIGKILL to those alive after 15 s; returns any still alive."""
    for signal_ in (signal.SIGTERM, signal.SIGKILL):
        for pid in ray_processes(folder):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal_)
        if not (left := _wait_gone(folder)):
            return left
    return left


@pytest.fixture()
def no_ray_left(ray_env):
    """Fails the test if any Ray process it started is still alive after it."""
    # An earlier CLI call's kernel prebuild may still be compiling (a fresh kernel folder, as
    # on a new machine): its cc inherits RAY_TMPDIR but is no Ray process. Wait for it.
    kernels.prebuild()
    assert not ray.is_initialized() and not ray_processes(ray_env)
    yield
    assert not ray.is_initialized()
    left = _wait_gone(ray_env)
    assert not left, f"Ray processes left behind: {left}"


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def running_stacks(folder: str, raylet: int | None = None) -> list[int]:
    """Worker processes now running a stack (their title is ``ray::symact_stack``), those of
    one node's raylet if given."""
    busy = []
    for pid, cmd in ray_processes(folder).items():
        if not cmd.startswith(f"ray::{TASK_NAME}"):
            continue
        try:
            if raylet is None or _ppid(pid) == raylet:
                busy.append(pid)
        except OSError:
            continue
    return busy


def _kill_first_stack(folder: str, killed: list[int], timeout: float = 60.0) -> None:
    """SIGKILL the first worker seen running a stack; its pid goes to ``killed``."""
    deadline = time.time() + timeout
    while not killed and time.time() < deadline:
        busy = running_stacks(folder)
        if busy:
            os.kill(busy[0], signal.SIGKILL)
            killed.append(busy[0])
        time.sleep(0.02)


# ----------------------------------------------------------------------------- helpers


def _table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _stored(db: Path) -> dict[str, dict]:
    """Every stored run (key -> result), read without the store's lock."""
    if not db.exists():
        return {}
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return {k: json.loads(r) for k, r in conn.execute("SELECT key, result FROM runs")}
        finally:
            conn.close()
    except sqlite3.OperationalError:  # created but no table yet, or being written
        return {}


def grid_specs(data: DataCache, seeds: range, epochs: int, heavy: bool = True) -> list[RunSpec]:
    """Runs on the 4,000-row spambase slice: three Light activations and Heavy ReLU."""
    config = TrainConfig(epochs=epochs)
    models = [LIGHT.with_activation(a) for a in ("relu", "gelu", "mul(cos(x), x)")]
    if heavy:
        models.append(HEAVY)
    spambase = data.identify(SPAMBASE)
    return [RunSpec(spambase, m, s, config) for s in seeds for m in models]


def _assert_same_table(got: list[dict[str, str]], want: list[dict[str, str]]) -> None:
    """Same rows and labels; numbers equal to float32 rounding."""
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.keys() == b.keys()
        for column, value in b.items():
            try:
                number = float(value)
            except ValueError:
                assert a[column] == value, column
            else:
                assert float(a[column]) == pytest.approx(number, rel=1e-5, abs=1e-6), column


def _metrics(store: ResultsStore, specs: list[RunSpec]) -> dict[str, tuple]:
    out = {}
    for s in specs:
        r = store.get_run(s.key())
        out[s.key()] = (r["accuracy"], r["auc"], r["final_loss"], r["failed"])
    return out


def _assert_same_metrics(got: dict[str, tuple], want: dict[str, tuple]) -> None:
    assert got.keys() == want.keys()
    for key in want:
        assert got[key][3] == want[key][3]
        assert got[key][:3] == pytest.approx(want[key][:3], rel=1e-5, abs=1e-6), key


# ----------------------------------------------------------------------------- tests


def test_without_ray_the_flag_says_how_to_install(tmp_path):
    """Ray blocked from import (``sys.modules['ray'] = None``): one line, exit 2, before any
    work (no results folder)."""
    out = tmp_path / "results"
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from symact.cli import main\n"
        f"sys.exit(main(['benchmark', '--suite', 'builtin', '--out', {str(out)!r}, "
        "'--executor', 'ray']))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--executor ray" in lines[0], r.stderr
    assert 'pip install "symact[ray]"' in lines[0]
    assert not out.exists()


def test_ray_address_without_the_ray_executor_is_a_usage_error(tmp_path, capsys):
    out = tmp_path / "results"
    argv = ["benchmark", "--suite", "builtin", "--out", str(out), "--ray-address", "auto"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--ray-address" in err[0] and "--executor ray" in err[0]
    assert not out.exists()


def test_a_head_that_does_not_answer_is_one_line_before_any_output(tmp_path, capsys, ray_env):
    """A port nothing listens on: ray.init would retry for ~10 minutes; symact says which
    flag is wrong at once, exit 2, and creates no results folder."""
    import socket

    with socket.socket() as s:  # a free port, closed again
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "results"
    argv = ["benchmark", "--suite", "builtin", "--out", str(out), "--discovery", "none"]
    argv += ["--executor", "ray", "--ray-address", f"127.0.0.1:{port}"]
    started = time.time()
    assert main(argv) == 2
    assert time.time() - started < 30
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: --ray-address 127.0.0.1:{port}:")
    assert "ray start --head" in err[0]
    assert not out.exists() and not ray.is_initialized()


@pytest.mark.slow
def test_builtin_suite_on_ray_resumes_after_ctrl_c_and_equals_local(
    tmp_path, canonical_data_dir, capsys, no_ray_left, ray_env
):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) stops a Ray suite
    with its finished runs kept and its local Ray gone; the same command resumes it, and
    its tables equal the local executor's to float32 rounding."""
    common = ["benchmark", "--suite", "builtin", "--device", "cpu", "--epochs", "40"]
    common += ["--seeds", "42,43", "--population-size", "60", "--generations", "2"]
    ray_out, local_out = tmp_path / "ray", tmp_path / "local"
    ray_argv = [*common, "--out", str(ray_out), "--executor", "ray"]

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "symact", *ray_argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, like a terminal's job
    )
    try:
        deadline = time.time() + 180
        db = ray_out / "symact.sqlite"
        while proc.poll() is None and time.time() < deadline and not _stored(db):
            time.sleep(0.05)
        assert proc.poll() is None, "the suite finished before it could be interrupted"
        os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, output
    assert "Run the same command again" in output
    kept = _stored(ray_out / "symact.sqlite")
    assert 0 < len(kept) < 24  # 6 configurations x 2 datasets x 2 seeds
    assert not _wait_gone(ray_env), "the interrupted command left Ray processes"

    assert main(ray_argv) == 0  # in this process: a local Ray instance of its own
    printed = capsys.readouterr().out
    assert f"{24 - len(kept)} trained, {len(kept)} already stored, 0 failed" in printed
    final = _stored(ray_out / "symact.sqlite")
    assert all(final[k] == v for k, v in kept.items())  # nothing retrained
    assert all(r["ray_node"] for r in final.values())

    assert main([*common, "--out", str(local_out)]) == 0
    # the formatted table is identical; the raw numbers equal to float32 rounding
    assert _table(ray_out / "final_efficiency_results.csv") == _table(
        local_out / "final_efficiency_results.csv"
    )
    for name in ("summary.csv", "runs.csv"):
        _assert_same_table(_table(ray_out / name), _table(local_out / name))
    assert len(_table(ray_out / "runs.csv")) == 24


class TestTwoNodes:
    """A head and a second node on this machine, one CPU each: tasks spread over both."""

    @pytest.fixture(scope="class")
    @classmethod
    def cluster(cls, ray_env):
        cluster = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 1, "include_dashboard": False},
        )
        second = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        yield cluster, second
        cluster.shutdown()

    @pytest.fixture()
    def data(self, canonical_data_dir) -> DataCache:
        return DataCache(str(canonical_data_dir))

    @pytest.mark.slow
    def test_a_worker_killed_mid_task_is_retried_and_the_store_is_intact(
        self, cluster, data, tmp_path, ray_env
    ):
        """SIGKILL to the worker running a stack (found by its process title): Ray reruns
        that stack on another worker; every run is stored once, none failed, none from the
        killed process, with the metrics the local executor gives."""
        c, _ = cluster
        specs = grid_specs(data, range(1, 4), epochs=6, heavy=False)
        killed: list[int] = []
        watcher = threading.Thread(target=_kill_first_stack, args=(ray_env, killed))
        with (
            ResultsStore(tmp_path / "ray.sqlite") as store,
            RayExecutor.connect(c.address) as executor,
        ):
            watcher.start()
            summary = run_grid(specs, store, data, executor=executor, stack_work=1e7)
            watcher.join()
            assert killed, "no stack was seen running"
            assert (summary.trained, summary.failed) == (len(specs), 0)
            stored = _stored(tmp_path / "ray.sqlite")
            assert len(stored) == len(specs)
            assert killed[0] not in {r["worker_pid"] for r in stored.values()}
            assert len({r["worker_pid"] for r in stored.values()}) >= 2
            (verdict,) = store._conn.execute("PRAGMA integrity_check").fetchone()
            assert verdict == "ok"
            on_ray = _metrics(store, specs)
        assert not ray.is_initialized()  # disconnected; the cluster itself still runs
        assert c.remaining_processes_alive()

        with ResultsStore(tmp_path / "local.sqlite") as store:
            run_grid(specs, store, data, stack_work=1e7)
            _assert_same_metrics(on_ray, _metrics(store, specs))

    @pytest.mark.slow
    def test_a_stack_whose_worker_dies_on_every_attempt_is_stored_failed_and_retrained(
        self, cluster, data, tmp_path, ray_env
    ):
        """With no retries left, the killed stack's runs are stored failed, saying the task
        was lost and how, as transient failures; every other stack trains. The rerun of the
        same grid trains exactly the killed worker's runs again, and they succeed."""
        c, _ = cluster
        specs = grid_specs(data, range(1, 3), epochs=6, heavy=False)
        killed: list[int] = []
        watcher = threading.Thread(target=_kill_first_stack, args=(ray_env, killed))
        with (
            ResultsStore(tmp_path / "ray.sqlite") as store,
            RayExecutor.connect(c.address, max_retries=0) as executor,
        ):
            watcher.start()
            summary = run_grid(specs, store, data, executor=executor, stack_work=1e7)
            watcher.join()
            assert killed, "no stack was seen running"
            failed = [r for r in _stored(tmp_path / "ray.sqlite").values() if r["failed"]]
        assert summary.trained == len(specs) and summary.failed == len(failed) >= 1
        for r in failed:
            assert r["failure_reason"].startswith("StackLost: the Ray task was lost on 1 attempt (")
            assert "Error" in r["failure_reason"] and r["accuracy"] is None
            assert r["failure_kind"] == "transient"
        with (
            ResultsStore(tmp_path / "ray.sqlite") as store,
            RayExecutor.connect(c.address, max_retries=0) as executor,
        ):
            rerun = run_grid(specs, store, data, executor=executor, stack_work=1e7)
        assert (rerun.trained, rerun.skipped) == (len(failed), len(specs) - len(failed))
        assert rerun.failed == rerun.failed_stored == 0
        assert not any(r["failed"] for r in _stored(tmp_path / "ray.sqlite").values())

    @pytest.mark.slow
    def test_an_error_in_the_training_is_stored_as_locally_and_the_grid_goes_on(
        self, cluster, data, tmp_path
    ):
        """1,282 rows leave 1,025 training rows: a last batch of one row, which BatchNorm
        refuses (a ValueError raised in the task). Its run is stored failed with the line
        the local executor stores, at once (no retry); the other stack trains."""
        c, _ = cluster
        config = TrainConfig(epochs=2)
        bad = RunSpec(data.identify(DataSpec("spambase", rows=1282)), LIGHT, 1, config)
        good = RunSpec(data.identify(SPAMBASE), LIGHT, 1, config)
        reasons = {}
        for where in ("ray", "local"):
            with ResultsStore(tmp_path / f"{where}.sqlite") as store:
                if where == "ray":
                    with RayExecutor.connect(c.address) as executor:
                        summary = run_grid([bad, good], store, data, executor=executor)
                else:
                    summary = run_grid([bad, good], store, data)
                assert (summary.trained, summary.failed) == (2, 1)
                failed = store.get_run(bad.key())
                assert failed["failed"] and failed["params"] == 6017
                assert not store.get_run(good.key())["failed"]
                reasons[where] = failed["failure_reason"]
        assert reasons["ray"] == reasons["local"]
        assert reasons["ray"].startswith("ValueError: 1025 training rows leave a last batch")

    @pytest.mark.slow
    def test_a_node_lost_mid_grid_loses_no_committed_run_and_the_grid_completes(
        self, cluster, data, tmp_path, ray_env
    ):
        """A third node joins, trains, and is killed (every process, no grace) while it runs
        a stack: runs committed before stay as they were; its stack is retried elsewhere
        (or stored failed, saying why) and the grid completes. The third node takes two
        stacks at a time, so one is still running when its first has been committed."""
        c, second = cluster
        third = c.add_node(num_cpus=2)
        c.wait_for_nodes()
        raylet = third.all_processes["raylet"][0].process.pid
        specs = grid_specs(data, range(1, 6), epochs=3)
        db = tmp_path / "ray.sqlite"
        snapshot: dict[str, dict] = {}

        def remove_third_node() -> None:
            deadline = time.time() + 120
            while time.time() < deadline:
                stored = _stored(db)
                done_there = any(r["ray_node"] == third.node_id for r in stored.values())
                if done_there and running_stacks(ray_env, raylet):
                    snapshot.update(_stored(db))
                    c.remove_node(third, allow_graceful=False)
                    return
                time.sleep(0.02)

        watcher = threading.Thread(target=remove_third_node)
        with ResultsStore(db) as store, RayExecutor.connect(c.address) as executor:
            watcher.start()
            summary = run_grid(specs, store, data, executor=executor, stack_work=1e7)
            watcher.join()
        assert snapshot, "the third node never trained a stack before the grid ended"
        final = _stored(db)
        assert summary.trained == len(final) == len(specs)
        assert all(final[k] == v for k, v in snapshot.items())  # committed runs untouched
        nodes = {r["ray_node"] for r in final.values() if not r["failed"]}
        assert {c.head_node.node_id, second.node_id, third.node_id} <= nodes | {None}
        assert len(nodes) >= 2
        for r in final.values():
            assert not r["failed"] or "lost" in r["failure_reason"], r["failure_reason"]
        assert summary.failed < len(specs) - len(snapshot)  # the lost stack was retried


@pytest.mark.slow
def test_ray_address_auto_joins_a_running_head_and_leaves_it_running(
    tmp_path, canonical_data_dir, capsys, ray_env
):
    """``ray start --head`` in a subprocess; ``--ray-address auto`` finds it, trains there
    and disconnects; the head keeps running until this test stops it (its own processes
    only: ``ray stop`` would stop every Ray on the machine, another test run's too)."""
    ray_cli = str(Path(sys.executable).with_name("ray"))
    start = [ray_cli, "start", "--head", "--num-cpus", "2", "--include-dashboard", "false"]
    start += ["--disable-usage-stats", f"--temp-dir={ray_env}/ray"]
    r = subprocess.run(start, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        head = ray_processes(ray_env)
        assert any("gcs_server" in c for c in head.values()), head
        out = tmp_path / "results"
        argv = ["benchmark", "--suite", "builtin", "--device", "cpu", "--epochs", "2"]
        argv += ["--seeds", "42", "--population-size", "60", "--generations", "2"]
        argv += ["--discovery", "none", "--out", str(out)]
        argv += ["--executor", "ray", "--ray-address", "auto"]
        assert main(argv) == 0
        assert "8 trained, 0 already stored, 0 failed" in capsys.readouterr().out
        assert not ray.is_initialized()
        nodes = {r["ray_node"] for r in _stored(out / "symact.sqlite").values()}
        assert len(nodes) == 1 and None not in nodes
        alive = ray_processes(ray_env)
        gcs = [p for p, c in head.items() if "gcs_server" in c]
        assert gcs and all(p in alive for p in gcs), "the head stopped with the command"
    finally:
        left = _stop(ray_env)
    assert not left, f"the head's processes outlived SIGTERM and SIGKILL: {left}"


@pytest.mark.slow
def test_a_search_through_ray_is_the_local_search(no_ray_left, tmp_path):
    """The search uses the same executor seam: through a local Ray instance it proposes,
    trains and judges exactly what it does on local threads."""
    from symact.cli import main

    argv = [
        "search",
        "--dataset",
        "breast_cancer",
        "--budget",
        "24",
        "--population",
        "8",
        "--tournament",
        "4",
        "--epochs",
        "2",
        "--final-seeds",
        "3",
        "--final-epochs",
        "2",
        "--rerank",
        "3",
        "--top",
        "2",
        "--no-specialist-baseline",
    ]
    assert main([*argv, "--out", str(tmp_path / "ray"), "--executor", "ray"]) == 0
    assert main([*argv, "--out", str(tmp_path / "local")]) == 0
    docs = [json.loads((tmp_path / d / "search.json").read_text()) for d in ("ray", "local")]
    assert [c["fitness"] for c in docs[0]["candidates"]] == [
        c["fitness"] for c in docs[1]["candidates"]
    ]
    rows = [(tmp_path / d / "search_results.csv").read_text() for d in ("ray", "local")]
    assert rows[0] == rows[1]

"""``--wait`` (issue #18): a second run on a held ``--out`` waits for the holder when asked,
and otherwise stops at once naming it. Two real processes: one holds the store, the other
is the ``symact`` command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from cli_helpers import FAST

#: holds the results store given as argv[1] until the file argv[2] appears
HOLDER = """
import sys, time
from pathlib import Path
from symact.experiments import ResultsStore

with ResultsStore(sys.argv[1]):
    print("holding", flush=True)
    while not Path(sys.argv[2]).exists():
        time.sleep(0.05)
"""


def _hold(store: Path, release: Path) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store), str(release)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "holding"
    return holder


def _benchmark(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "symact", "benchmark", "--datasets", "spambase",
        "--data-dir", str(data_dir), *FAST, "--out", str(out), *extra,
    ]  # fmt: skip


def test_a_held_out_is_refused_naming_the_holder_and_waited_for_with_wait(
    tmp_path, canonical_data_dir
):
    out = tmp_path / "out"
    release = tmp_path / "release"
    holder = _hold(out / "symact.sqlite", release)
    waiting = None
    try:
        refused = subprocess.run(
            _benchmark(canonical_data_dir, out), capture_output=True, text=True, timeout=120
        )
        assert refused.returncode == 2, refused.stderr
        (line,) = refused.stderr.splitlines()
        assert line.startswith(f"error: the results store {out / 'symact.sqlite'} is in use")
        assert f"(pid {holder.pid} since " in line

        waiting = subprocess.Popen(
            _benchmark(canonical_data_dir, out, "--wait"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        note = waiting.stderr.readline()
        assert note.startswith(f"waiting for the run holding {out / 'symact.sqlite'} (pid "), note
        time.sleep(1.0)
        assert waiting.poll() is None  # still waiting while the holder holds
        release.touch()
        assert holder.wait(timeout=30) == 0
        stdout, stderr = waiting.communicate(timeout=300)
    finally:
        release.touch()
        holder.wait(timeout=30)
        if waiting is not None and waiting.poll() is None:  # a failed assertion above
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == 0, stderr
    assert "4 runs: 4 trained, 0 already stored, 0 failed" in stdout

"""A search whose output is not a terminal: plain progress lines, and an interrupt that
speaks of candidates, as its progress does (a real ``python -m symact search``, a real
SIGINT)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

from search_args import SMALL

LINE = re.compile(
    r"search: (\d+)/40 candidates trained, [\d,]+/min, \d+:\d\d:\d\d elapsed(; best \S+ .+)?"
)
STOPPED = re.compile(
    r"Interrupted at (\d+)/40 candidates trained: their training runs are kept in "
    r".*symact\.sqlite \((\d+) finished in this session\)"
)


def test_a_piped_search_prints_plain_lines_and_an_interrupt_counts_candidates(tmp_path):
    out = tmp_path / "out"
    argv = ["search", "--dataset", "breast_cancer", "--out", str(out), *SMALL,
            "--no-specialist-baseline"]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "symact", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200"),
    )
    lines = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, "the search ended before printing progress:\n" + "".join(lines)
            lines.append(line)
            if line.startswith("search: "):
                break
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = "".join(lines) + rest
    assert "\r" not in text and "━" not in text  # no bar redrawn in place
    progress = [m for m in map(LINE.fullmatch, text.splitlines()) if m]
    assert progress, text
    done = int(progress[-1].group(1))
    assert 0 < done <= 40
    assert process.returncode == 130, text
    stopped = re.search(STOPPED, text)
    assert stopped, text
    assert int(stopped.group(1)) >= done and int(stopped.group(2)) >= 2 * done
    assert "run(s) finished" not in text

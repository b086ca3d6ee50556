"""The README's estimator-and-export example runs as written, on the penguins slice."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
MARK = "<!-- example: estimator and export"


def _example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    after = text[text.index(MARK) :]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


@pytest.mark.slow
def test_readme_example_runs(tmp_path):
    shutil.copy(REPO / "tests" / "fixtures" / "data" / "penguins.csv", tmp_path)
    (tmp_path / "example.py").write_text(_example(), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    aucs = re.search(r"cross-validated AUC \[(.*?)\]", done.stdout).group(1).split()
    assert len(aucs) == 3 and min(float(a) for a in aucs) > 0.8
    gap = float(done.stdout.strip().splitlines()[-1].split(":")[-1])
    assert gap <= 1e-5
    assert (tmp_path / "model" / "model_card.json").is_file()

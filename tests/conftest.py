"""Shared fixtures: real dataset rows for every test, from the slices kept in the repository.

The default test run reads only ``tests/fixtures/data/`` (small real slices of the three UCI
datasets, see the README there), so it passes in any clone. Two groups need more than a
clone and pip can give, and run only when asked for by name (see ``OPT_IN_GROUPS``):
``full_data`` (acceptance numbers and checksums on the project's full copies,
``$SYMACT_SHARED_DATA`` or ``../shared/data``) and ``browser`` (report pages in headless
Chromium). Each fails, never skips, when what it needs is missing.
"""

from __future__ import annotations

import gzip
import os
import re
import signal
from pathlib import Path

import pytest

# A shell without job control starts background commands with SIGINT ignored, and the
# ignore passes to every child: the interrupt tests (Ctrl-C sent to symact in-process or to a
# child) would then test nothing. Python's own handler back, as in a foreground run.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parents[1]
FIXTURE_DATA = REPO / "tests" / "fixtures" / "data"

#: canonical UCI file name -> the repository's slice of it (spambase.data is stored gzipped
#: and unpacked for the tests, since symact reads that file uncompressed, as UCI serves it)
SLICES = {
    "HIGGS.csv.gz": "higgs_first3000.csv.gz",
    "covtype.data.gz": "covtype_3000.csv.gz",
    "spambase.data": "spambase_4000.data.gz",
}

#: canonical UCI file name -> the full copy in ../shared/data (``full_data`` tests only)
FULL_COPIES = {
    "HIGGS.csv.gz": "higgs_first10k.csv.gz",
    "covtype.data.gz": "covtype.csv.gz",
    "spambase.data": "spambase.data",
}


def _canonical_folder(folder: Path, sources: dict[str, Path]) -> Path:
    """``folder`` holding each source under its canonical name (links; spambase unpacked)."""
    for canonical, source in sources.items():
        if canonical.endswith(".gz") or not source.name.endswith(".gz"):
            (folder / canonical).symlink_to(source)
        else:
            (folder / canonical).write_bytes(gzip.decompress(source.read_bytes()))
    return folder


@pytest.fixture(scope="session")
def canonical_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding the repository's slices under the canonical UCI names.

    ``spambase.data`` (3,000 rows), ``covtype.data.gz`` (3,000 rows, all 7 cover types),
    ``HIGGS.csv.gz`` (HIGGS.csv rows 1-3,000); counts in tests/fixtures/data/README.md.
    """
    folder = tmp_path_factory.mktemp("canonical_data")
    return _canonical_folder(folder, {c: FIXTURE_DATA / s for c, s in SLICES.items()})


@pytest.fixture(scope="session")
def shared_data(canonical_data_dir: Path) -> Path:
    """A folder of real dataset rows for tests that read a file directly: ``spambase.data``.

    Kept under its old name for the tests written when it pointed at ../shared/data; it is
    now ``canonical_data_dir``, so ``shared_data / "spambase.data"`` is the 4,000-row slice.
    """
    return canonical_data_dir


def _full_copies_dir() -> Path:
    env = os.environ.get("SYMACT_SHARED_DATA")
    folder = Path(env) if env else REPO.parent / "shared" / "data"
    missing = [name for name in FULL_COPIES.values() if not (folder / name).is_file()]
    if missing:
        pytest.fail(
            f"the full_data tests need the full dataset copies ({', '.join(missing)} not in "
            f"{folder}); set SYMACT_SHARED_DATA to the folder holding spambase.data, "
            "covtype.csv.gz and higgs_first10k.csv.gz",
            pytrace=False,
        )
    return folder


@pytest.fixture(scope="session")
def full_shared_data() -> Path:
    """The folder of full dataset copies: ``$SYMACT_SHARED_DATA`` or ``../shared/data``.

    For ``full_data`` tests only; fails the test (never skips it) when the copies are absent.
    """
    return _full_copies_dir()


@pytest.fixture(scope="session")
def full_canonical_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full copies under the canonical UCI names (``full_data`` tests only).

    ``.ci/run`` links them once and names the folder in ``SYMACT_TEST_DATA_DIR``.
    """
    shared = _full_copies_dir()
    prepared = os.environ.get("SYMACT_TEST_DATA_DIR")
    if prepared and all((Path(prepared) / name).exists() for name in FULL_COPIES):
        return Path(prepared)
    folder = tmp_path_factory.mktemp("full_canonical_data")
    return _canonical_folder(folder, {c: shared / s for c, s in FULL_COPIES.items()})


#: marker -> what its tests need beyond a clone and ``pip install -e ".[test]"``
OPT_IN_GROUPS = {
    "full_data": "the full dataset copies",
    "browser": "headless Chromium",
}


def _named_groups(markexpr: str) -> set[str]:
    """The opt-in groups a ``-m`` expression names (as a word, negated or not)."""
    return {group for group in OPT_IN_GROUPS if re.search(rf"\b{group}\b", markexpr)}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Opt-in groups run only when ``-m`` names them; their tests must carry the marker.

    Why a hook and not ``addopts = -m 'not full_data and not browser'``: a ``-m`` on the
    command line replaces the one in ``addopts``, so ``python -m pytest -m "not slow"`` (a
    README command) selected the full_data and browser tests and failed in a fresh clone.
    Here a test of a group is deselected unless the expression mentions the group:
    ``-m "not slow"`` leaves both out, ``-m browser`` or ``-m "full_data and not slow"``
    selects them, and ``-m "not browser"`` is as before. Passing a file by path does not
    opt in either, so no command a README reader types needs Chromium or ../shared by
    accident. A test that reads the full copies, or starts Chromium through the ``browser``
    fixture, without its group's marker is a usage error: otherwise the default run would
    need them.
    """
    fixtures_of = {
        "full_data": {"full_shared_data", "full_canonical_data_dir"},
        "browser": {"browser"},
    }
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for group, fixtures in fixtures_of.items():
            if fixtures & used and item.get_closest_marker(group) is None:
                raise pytest.UsageError(
                    f"{item.nodeid} needs {OPT_IN_GROUPS[group]} but is not marked {group}"
                )
    named = _named_groups(config.getoption("markexpr") or "")
    kept, left_out = [], []
    for item in items:
        groups = {g for g in OPT_IN_GROUPS if item.get_closest_marker(g) is not None}
        (kept if groups <= named else left_out).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept

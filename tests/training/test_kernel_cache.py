"""The kernel library is loaded only from a private folder and only once its bytes match
the digest recorded at build (issue #18): loading runs a library's code, so a library
planted in the cache folder must never be loaded.

The planted library is real C whose initializer writes a marker file: the marker appears
if and only if ``dlopen`` ran it.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import shutil
import subprocess

import pytest
import torch

from symact.errors import UserError
from symact.training import fused, kernels, stack, trainer
from symact.training.kernel_cache import KernelDirError, check_kernel_cache

PLANTED = r"""
#include <stdio.h>
#include <stdlib.h>
__attribute__((constructor)) static void planted(void) {
    FILE *f = fopen(getenv("SYMACT_TEST_MARKER"), "w");
    if (f) { fputs("ran", f); fclose(f); }
}
int symact_interface_missing(void) { return 0; }
"""


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A shared library that writes ``$SYMACT_TEST_MARKER`` when it is loaded."""
    folder = tmp_path_factory.mktemp("planted")
    (folder / "planted.c").write_text(PLANTED)
    out = folder / "planted.so"
    subprocess.run(
        ["cc", "-shared", "-fPIC", str(folder / "planted.c"), "-o", str(out)], check=True
    )
    return out


@pytest.fixture
def marker(tmp_path, monkeypatch):
    path = tmp_path / "marker"
    monkeypatch.setenv("SYMACT_TEST_MARKER", str(path))
    monkeypatch.setenv("SYMACT_KERNELS", "auto")
    return path


def _library_name(folder, monkeypatch) -> str:
    """The file name the loader looks for (built once, in a private folder)."""
    monkeypatch.setenv("SYMACT_KERNEL_DIR", str(folder))
    return kernels.load().path.name


def test_a_library_planted_where_others_can_write_is_never_loaded(
    tmp_path, monkeypatch, planted, marker
):
    name = _library_name(tmp_path / "private", monkeypatch)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    shutil.copy(planted, shared / name)
    digest = hashlib.sha256(planted.read_bytes()).hexdigest()
    kernels.digest_path(shared / name).write_text(digest)  # the planter records it too
    monkeypatch.setenv("SYMACT_KERNEL_DIR", str(shared))
    with pytest.raises(KernelDirError) as err:
        kernels.load()
    message = str(err.value)
    assert f"the kernel cache folder {shared} is writable by others" in message
    assert "SYMACT_KERNEL_DIR" in message and isinstance(err.value, UserError)
    with pytest.raises(KernelDirError, match="writable by others"):
        check_kernel_cache()  # the command's check, before any work
    assert not marker.exists()
    shared.chmod(0o770)
    with pytest.raises(KernelDirError, match="writable by its group"):
        kernels.load()
    assert not marker.exists()


def test_a_library_unlike_its_recorded_digest_is_rebuilt_without_being_loaded(
    tmp_path, monkeypatch, planted, marker
):
    name = _library_name(tmp_path / "first", monkeypatch)
    folder = tmp_path / "second"
    shutil.copytree(tmp_path / "first", folder)
    shutil.copy(planted, folder / name)  # swapped after the build; the digest is the build's
    monkeypatch.setenv("SYMACT_KERNEL_DIR", str(folder))
    lib = kernels.load()
    assert lib is not None and lib.path == folder / name
    assert not marker.exists()
    assert (folder / name).read_bytes() != planted.read_bytes()  # rebuilt in its place
    assert (folder / name).read_bytes() == (tmp_path / "first" / name).read_bytes()


def test_a_library_without_a_digest_is_not_loaded(tmp_path, planted, marker):
    path = tmp_path / "lib.so"
    shutil.copy(planted, path)
    with pytest.raises(kernels.KernelBuildError, match="no recorded digest"):
        kernels.load_library(path)
    assert not marker.exists()


def test_every_c_call_of_the_training_step_is_bound_by_name():
    """No kernel is called with positional raw pointers: each call passes arguments made
    by ``Kernel.bind`` (kernels.h's names), or replaces one named slot of them."""
    for module in (fused, stack, trainer):
        source = inspect.getsource(module)
        positional = re.findall(r"\.symact_\w+\((?!\*)[^)]", source)
        assert positional == [], (module.__name__, positional)


def test_gather_and_all_finite_through_their_bound_names(monkeypatch, tmp_path):
    monkeypatch.setenv("SYMACT_KERNELS", "fused")
    from symact.models import LIGHT
    from symact.training import StackedModel, TrainConfig

    model = StackedModel([LIGHT, LIGHT], 5, [1, 2], TrainConfig(epochs=1), activations=None)
    step = model.path
    assert step.name == "fused"
    gen = torch.Generator().manual_seed(0)
    x_all = torch.randn(50, 5, generator=gen)
    y_all = torch.randint(0, 2, (50,), generator=gen).float()
    perms = torch.stack([torch.randperm(50, generator=gen) for _ in range(2)]).contiguous()
    x_buf, y_buf = torch.empty(2 * 8, 5), torch.empty(2 * 8)
    for step_no in range(3):
        step.gather(perms, step_no * 8, 8, x_all, y_all, x_buf, y_buf)
        rows = perms[:, step_no * 8 : step_no * 8 + 8].reshape(-1)
        assert torch.equal(x_buf, x_all[rows]) and torch.equal(y_buf, y_all[rows])
    finite = torch.ones(100)
    assert step.all_finite(finite)
    finite[37] = float("nan")
    assert not step.all_finite(finite)

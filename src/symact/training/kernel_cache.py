"""Where the fused kernels' library is cached, and why symact trusts that folder.

Loading a shared library runs its code (initializers run inside ``dlopen``), so a library
planted in the cache folder would run inside symact. The folder must therefore be owned by
the user and writable by no one else; :func:`check_kernel_cache` says so at the command's
edge, before any work, and the loader checks again before each load. This module imports
neither torch nor the compiler, so the command line can check it cheaply.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from symact.errors import SettingError, UserError


class KernelDirError(UserError):
    """The kernel cache folder could be written by someone else: symact will not load
    compiled code from it. The message names the folder and ``SYMACT_KERNEL_DIR``."""


def cache_dir() -> Path:
    env = os.environ.get("SYMACT_KERNEL_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("symact")) / "kernels"


def mode() -> str:
    """``SYMACT_KERNELS``: ``auto`` (default), ``fused`` (failures are errors) or ``torch``."""
    value = os.environ.get("SYMACT_KERNELS", "auto").strip().lower() or "auto"
    if value not in ("auto", "fused", "torch"):
        raise SettingError(
            f"SYMACT_KERNELS must be 'auto', 'fused' or 'torch', got {value!r}; unset it for 'auto'"
        )
    return value


def check_private_folder(folder: Path) -> None:
    """Raise :class:`KernelDirError` unless ``folder`` (symlinks followed) is a folder owned
    by this user that neither group nor others can write: a library planted there would
    run its code inside this process when loaded."""
    try:
        st = os.stat(folder)
    except OSError as exc:
        raise KernelDirError(
            f"cannot use the kernel cache folder {folder} ({exc.strerror}); set "
            "SYMACT_KERNEL_DIR to a folder of your own"
        ) from None
    why = None
    if not stat.S_ISDIR(st.st_mode):
        why = "not a folder"
    elif st.st_uid != os.getuid():
        why = f"owned by another user (uid {st.st_uid})"
    elif st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        why = f"writable by {'others' if st.st_mode & stat.S_IWOTH else 'its group'}"
    if why:
        raise KernelDirError(
            f"the kernel cache folder {folder} is {why}, so a library planted there would "
            f"run inside symact; make it yours and private (chmod go-w {folder}), or set "
            "SYMACT_KERNEL_DIR to a folder of your own"
        )


def digest_path(library: Path) -> Path:
    """Where the SHA-256 of ``library``'s bytes is kept: ``symact_<key>.so.sha256``."""
    return library.with_name(library.name + ".sha256")


def check_kernel_cache() -> None:
    """``SYMACT_KERNELS`` and the cache folder, checked before any work: a
    :class:`~symact.errors.UserError` names what to change. A folder not made yet passes
    (it is created private)."""
    if mode() == "torch":
        return
    folder = cache_dir()
    if folder.exists() or folder.is_symlink():
        check_private_folder(folder)

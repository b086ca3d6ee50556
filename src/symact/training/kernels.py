"""The fused CPU kernels: one C library, built once with the system compiler, called by name.

Why: after batching, a small model's step on the CPU is mostly element-wise passes through
memory (normalization, activation, dropout and their backward) and framework calls, not
matmuls; ``csrc/hidden.c`` does a hidden layer's forward in two passes and its backward in
three, ``csrc/output.c`` the output layers with their losses and the batch gather.
Activations are interpreted: each model's formula is a register program
(``symact.formula.program``) run by an interpreter generated from the operator table
(``symact.formula.ccode``), so any number of different formulas share one library and no
compiler runs once it is built (measured in ``benchmarks/bench_formulas.py``).

The interface is declared once, in ``csrc/kernels.h``: the C sources include it (a
definition that differs does not compile), this module parses it into the ctypes
signatures, and callers bind arguments by parameter name (:meth:`Kernel.bind`), each tensor
checked against its declared pointer type, so an argument out of order is an error when the
arguments are built, never a corrupted run. The library reports the hash of the header it
was built from, and a library built from another header is refused at load time.

Build: ``cc -O3 -march=native`` into ``<cache>/kernels/symact_<hash>.so`` (hash of the
sources, flags, compiler and CPU flags; written to a temporary name, then renamed) with the
SHA-256 of its bytes beside it (``.so.sha256``). Loading runs the library's code (its
initializers run inside ``dlopen``), so a library is loaded only from a folder that the user
owns and no one else can write (``kernel_cache``), and only once its bytes, read through
the descriptor that ``dlopen`` then opens, match the digest recorded at build. Loaded
with ctypes, which releases the GIL during calls, so stacks on several threads run in
parallel. First with glibc's vector math library (libmvec: sin/cos/exp/erf 16 lanes at a
time), else without.

When it is not used: on CUDA; for an activation module with no formula; when no C compiler
works (reported once as a warning); or with ``SYMACT_KERNELS=torch``. The stack then runs its
torch path, the canonical one, which computes the same function up to float32 rounding.
``SYMACT_KERNELS=fused`` makes a failure to build an error instead. Environment:
``SYMACT_CC`` (compiler, default ``cc``), ``SYMACT_KERNEL_DIR`` (cache folder).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import re
import stat
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from symact.formula.ccode import LIBM_FUNCTIONS, interpreter_source
from symact.training.kernel_cache import (
    cache_dir,
    check_private_folder,
    digest_path,
    mode,
)

SOURCES = ("hidden.c", "output.c")
HEADER = "kernels.h"

_FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fPIC", "-shared"]


class KernelBuildError(RuntimeError):
    """The fused kernels could not be compiled or loaded."""


class KernelInterfaceError(TypeError):
    """Arguments that do not match ``kernels.h`` (a name missing, unknown, or a wrong dtype)."""


# ------------------------------------------------------------------------------ the interface

_SCALARS = {
    "int64_t": ctypes.c_int64,
    "int32_t": ctypes.c_int32,
    "float": ctypes.c_float,
    "double": ctypes.c_double,
}
_POINTEES = {
    "float": torch.float32,
    "double": torch.float64,
    "int64_t": torch.int64,
    "int32_t": torch.int32,
}
_RESULTS = {"int": ctypes.c_int, "void": None, "const char *": ctypes.c_char_p}
_PROTOTYPE = re.compile(
    r"^(?P<result>int|void|const char \*)\s*(?P<name>symact_\w+)\((?P<params>[^)]*)\);", re.M
)


@dataclass(frozen=True)
class Parameter:
    name: str
    base: str  # int64_t, int32_t, float, double
    pointer: bool


@dataclass(frozen=True)
class Signature:
    name: str
    result: str
    params: tuple[Parameter, ...]


def _parameter(text: str) -> Parameter:
    text = " ".join(text.split())
    m = re.fullmatch(r"(?:const )?(int64_t|int32_t|float|double) (\*)?(\w+)", text)
    if m is None:
        raise KernelInterfaceError(f"kernels.h: cannot read parameter {text!r}")
    return Parameter(m.group(3), m.group(1), m.group(2) is not None)


def parse_header(text: str) -> dict[str, Signature]:
    """Every ``symact_*`` prototype of ``kernels.h``: names, parameter names and types."""
    sigs = {}
    for m in _PROTOTYPE.finditer(re.sub(r"/\*.*?\*/", "", text, flags=re.S)):
        raw = [p for p in m.group("params").split(",") if p.strip() and p.strip() != "void"]
        params = tuple(_parameter(p) for p in raw)
        sigs[m.group("name")] = Signature(m.group("name"), m.group("result"), params)
    if not sigs:
        raise KernelInterfaceError("kernels.h declares no symact_* kernel")
    return sigs


class BoundArgs(tuple):
    """A kernel's arguments in declared order; it holds the tensors whose addresses it
    carries, so they live as long as the arguments do."""

    def __new__(cls, values, *, keep: list[Tensor]) -> BoundArgs:
        self = super().__new__(cls, values)
        self.keep = keep
        return self


class Kernel:
    """One kernel of the library with its declared signature; bound and called by name."""

    def __init__(self, fn: Any, sig: Signature) -> None:
        fn.argtypes = [ctypes.c_void_p if p.pointer else _SCALARS[p.base] for p in sig.params]
        fn.restype = _RESULTS[sig.result]
        self.fn, self.sig = fn, sig
        # kernels over a range of models take (k0, k1) first; callers bind the rest
        self.ranged = [p.name for p in sig.params[:2]] == ["k0", "k1"]

    def bind(self, **args: Any) -> BoundArgs:
        """The arguments in declared order (without ``k0, k1`` for ranged kernels).

        Every declared parameter must be named; tensors must be contiguous with the declared
        element type; ``None`` is a NULL pointer. Raises :class:`KernelInterfaceError`.
        """
        params = self.sig.params[2:] if self.ranged else self.sig.params
        names = {p.name for p in params}
        unknown, missing = set(args) - names, [p.name for p in params if p.name not in args]
        if unknown or missing:
            raise KernelInterfaceError(
                f"{self.sig.name}: unknown argument(s) {sorted(unknown)}, missing {missing}"
            )
        return BoundArgs(
            (self._value(p, args[p.name]) for p in params),
            keep=[v for v in args.values() if isinstance(v, Tensor)],
        )

    def index(self, name: str) -> int:
        """Where argument ``name`` sits in :meth:`bind`'s tuple (to replace it per call)."""
        params = self.sig.params[2:] if self.ranged else self.sig.params
        return [p.name for p in params].index(name)

    def _value(self, p: Parameter, value: Any) -> Any:
        if not p.pointer:
            if isinstance(value, Tensor):
                raise KernelInterfaceError(f"{self.sig.name}: {p.name} is a {p.base}, got a tensor")
            return value
        if value is None or isinstance(value, int):
            return value
        if not isinstance(value, Tensor):
            raise KernelInterfaceError(f"{self.sig.name}: {p.name} needs a tensor or an address")
        if value.dtype != _POINTEES[p.base] or not value.is_contiguous() or value.is_cuda:
            raise KernelInterfaceError(
                f"{self.sig.name}: {p.name} is declared {p.base} *, got a "
                f"{'contiguous ' if value.is_contiguous() else 'strided '}{value.dtype} tensor "
                f"on {value.device}"
            )
        return value.data_ptr()

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)

    def call(self, **args: Any) -> Any:
        """Bind by name (:meth:`bind`) and call: for kernels called once, not per step."""
        return self.fn(*self.bind(**args))


@dataclass(frozen=True)
class Library:
    """The loaded kernels, by name (``lib.symact_hidden_forward``)."""

    path: Path
    kernels: Mapping[str, Kernel]

    def __getattr__(self, name: str) -> Kernel:
        try:
            return self.kernels[name]
        except KeyError:
            raise AttributeError(name) from None


# ------------------------------------------------------------------------------ building


@cache
def _text(name: str) -> str:
    return resources.files("symact.training").joinpath("csrc", name).read_text()


def libm_prototypes(libmvec: bool) -> str:
    """Declarations of the libm functions the interpreter calls, vectorizable with libmvec.

    ``const`` (no side effects; true with -fno-math-errno) lets gcc vectorize loops that mix
    these calls with branches, which it otherwise refuses once -fno-builtin hides what they are.
    """
    decl = "#pragma omp declare simd notinbranch\n" if libmvec else ""
    return "#include <stdint.h>\n" + "".join(
        f"{decl}float {fn}(float) __attribute__((const));\n" for fn in LIBM_FUNCTIONS
    )


def interface_hash() -> str:
    return hashlib.sha256(_text(HEADER).encode()).hexdigest()[:16]


def library_source(libmvec: bool) -> str:
    """The one translation unit: libm declarations, the generated interpreter, the kernels."""
    parts = [
        f'#define SYMACT_INTERFACE_HASH "{interface_hash()}"',
        libm_prototypes(libmvec),
        interpreter_source(),
        *(_text(name) for name in SOURCES),
    ]
    return "\n".join(parts)


def _cpu_id() -> str:
    """What -march=native depends on: a library built on another CPU may not run here."""
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = next((ln for ln in text.splitlines() if ln.startswith(("flags", "Features"))), "")
    except OSError:
        flags = ""
    return f"{platform.machine()} {platform.processor()} {flags}"


def compile_library(source: str, out: Path, *, libmvec: bool, cc: str | None = None) -> None:
    """Compile C ``source`` (with ``kernels.h`` beside it) into the shared library ``out``,
    and record its bytes' SHA-256 beside it (:func:`digest_path`)."""
    cc = cc or os.environ.get("SYMACT_CC", "cc")
    out.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    check_private_folder(out.parent)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        src = Path(tmp) / "symact.c"
        src.write_text(source)
        (Path(tmp) / HEADER).write_text(_text(HEADER))
        tmp_out = Path(tmp) / out.name
        # -fno-builtin: gcc would merge sinf and cosf of one argument into sincosf, which has
        # no vector variant; as plain declared-simd functions both vectorize.
        vector = [f"-fno-builtin-{fn}" for fn in LIBM_FUNCTIONS] if libmvec else []
        libs = ["-lmvec", "-lm"] if libmvec else ["-lm"]
        cmd = [cc, *_FLAGS, *vector, "-fopenmp-simd", f"-I{tmp}", str(src), "-o", str(tmp_out)]
        try:
            r = subprocess.run([*cmd, *libs], capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise KernelBuildError(f"could not run the C compiler {cc!r}: {exc}") from exc
        if r.returncode != 0:
            raise KernelBuildError(f"{' '.join(cmd)} failed:\n{r.stderr.strip()[-2000:]}")
        tmp_digest = Path(tmp) / "digest"
        tmp_digest.write_text(hashlib.sha256(tmp_out.read_bytes()).hexdigest())
        # atomic each; a concurrent build of the same key may pair one build's digest with
        # the other's bytes, which loading refuses and the next build repairs
        os.replace(tmp_digest, digest_path(out))
        os.replace(tmp_out, out)


def _open_verified(path: Path) -> int:
    """A descriptor of ``path`` whose bytes match the digest recorded when it was built
    (KernelBuildError otherwise), in a private folder (KernelDirError otherwise). Loading
    through this descriptor loads the bytes that were checked."""
    if not path.parent.is_dir():
        raise KernelBuildError(f"{path} is not built")
    check_private_folder(path.parent)
    try:
        expected = digest_path(path).read_text().strip()
    except OSError:
        raise KernelBuildError(
            f"{path} has no recorded digest ({digest_path(path).name})"
        ) from None
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
            raise KernelBuildError(f"{path} is not a file of this user's")
        digest = hashlib.sha256()
        offset = 0
        while block := os.pread(fd, 1 << 20, offset):
            digest.update(block)
            offset += len(block)
        if digest.hexdigest() != expected:
            raise KernelBuildError(
                f"{path} does not match the digest recorded when it was built; delete it and "
                "run again"
            )
    except BaseException:
        os.close(fd)
        raise
    return fd


def load_library(path: Path, *, header: str | None = None) -> Library:
    """Load a built library against ``header`` (default: this package's ``kernels.h``);
    KernelBuildError if the library lacks a kernel or was built from another header."""
    header = _text(HEADER) if header is None else header
    expected = hashlib.sha256(header.encode()).hexdigest()[:16]
    fd = _open_verified(path)  # before dlopen: loading runs the library's code
    try:
        by_fd = Path(f"/proc/self/fd/{fd}")
        cdll = ctypes.CDLL(str(by_fd if by_fd.exists() else path))
    finally:
        os.close(fd)
    sigs = parse_header(header)
    missing = [name for name in sigs if not hasattr(cdll, name)]
    if missing:
        raise KernelBuildError(f"{path} lacks the kernels {missing} that kernels.h declares")
    kernels = {name: Kernel(getattr(cdll, name), sig) for name, sig in sigs.items()}
    built_from = kernels["symact_interface"]().decode()
    if built_from != expected:
        raise KernelBuildError(
            f"{path} was built from another kernels.h ({built_from}, this one is "
            f"{expected}); delete it and run again"
        )
    return Library(path, kernels)


_lock = threading.Lock()
_loaded: dict[str, Library] = {}  # by library path
_failed: dict[str, str] = {}
_warned: set[str] = set()


def _build_and_load() -> tuple[Library | None, str]:
    cc = os.environ.get("SYMACT_CC", "cc")
    message = ""
    for libmvec in (True, False):
        source = library_source(libmvec)
        key = hashlib.sha256(
            "\0".join([source, _text(HEADER), *_FLAGS, cc, str(libmvec), _cpu_id()]).encode()
        ).hexdigest()[:24]
        path = cache_dir() / f"symact_{key}.so"
        key = str(path)  # a library per cache folder (SYMACT_KERNEL_DIR may change)
        if key in _loaded:
            return _loaded[key], ""
        if key in _failed:
            message = _failed[key]
            continue
        try:
            try:
                lib = load_library(path)
            except (KernelBuildError, OSError):  # not built, or not as recorded: build
                compile_library(source, path, libmvec=libmvec, cc=cc)
                lib = load_library(path)
        except (KernelBuildError, OSError) as exc:
            message = _failed[key] = str(exc)
            continue
        _loaded[key] = lib
        return lib, ""
    return None, message


def load() -> Library | None:
    """The kernel library (built on first use, then cached), or None for the torch path.

    None with ``SYMACT_KERNELS=torch``, or when building fails in ``auto`` mode (warned once
    per failure message); ``SYMACT_KERNELS=fused`` raises :class:`KernelBuildError` instead.
    """
    current = mode()
    if current == "torch":
        return None
    with _lock:  # one build at a time; later callers find it loaded
        lib, message = _build_and_load()
    if lib is not None:
        return lib
    if current == "fused":
        raise KernelBuildError(f"SYMACT_KERNELS=fused, but building failed: {message}")
    with _lock:
        first = message not in _warned
        _warned.add(message)
    if first:
        warnings.warn(
            f"fused CPU kernels unavailable, training runs the slower torch path: {message}",
            RuntimeWarning,
            stacklevel=2,
        )
    return None


def prebuild() -> None:
    """Build the library now (e.g. on a spare core while the CLI imports); errors surface
    later, where training loads it."""
    if mode() != "torch":
        with _lock:
            _build_and_load()

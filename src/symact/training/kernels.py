"""Fused CPU kernels for the stacked trainer, built from ``fused.c`` and ``common.c`` with the
system compiler.

Why: after batching, a Light model's step on the CPU is mostly element-wise passes through
memory (BatchNorm, activation, dropout and their backward) and framework calls, not
matmuls. ``fused.c`` does a hidden layer's forward in two passes and its backward in two;
``common.c`` the output layer and loss, Adam and the batch gather; with glibc's vector math
library (libmvec) the activation's sin/cos/exp/erf run 16 lanes at a time. Measured on the
paper grid in ``benchmarks/bench_training.py``.

How: one small shared library per activation, plus one shared by all for ``common.c``
(:class:`ActivationKernels` holds both). The activation's C body comes from a fixed
table for PyTorch's built-in modules or from :func:`symact.formula.ccode.to_c` for a
:class:`~symact.formula.SymbolicActivation`; the library is compiled once with ``cc -O3
-march=native`` into ``<cache>/kernels/symact_<hash>.so`` (hash of source, flags, compiler and CPU
flags; written to a temporary name, then renamed) and loaded with ctypes, which releases the
GIL during calls, so stacks on several Python threads run in parallel.

When it is not used: on CUDA; for an activation neither table knows; when no C compiler
works (the first failure is reported once as a warning); or with ``SYMACT_KERNELS=torch``.
The stack then runs its torch path, which computes the same function up to float32
rounding. ``SYMACT_KERNELS=fused`` makes a failure to build an error instead.
Environment: ``SYMACT_CC`` (compiler, default ``cc``), ``SYMACT_KERNEL_DIR`` (cache folder).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, partial
from importlib import resources
from pathlib import Path

from torch import Tensor, nn

from symact.formula.activation import SymbolicActivation
from symact.formula.ccode import LIBM_FUNCTIONS, to_c

_RELU = "    *d = y > 0.0f ? 1.0f : 0.0f;\n    return y < 0.0f ? 0.0f : y;"
_BUILTIN_BODIES: dict[tuple[type, str], str] = {
    (nn.ReLU, ""): _RELU,
    (nn.Identity, ""): "    *d = 1.0f;\n    return y;",
    (nn.GELU, "none"): (
        "    float c = 0.5f * (1.0f + erff(y * 0.7071067811865476f));\n"
        "    *d = c + y * expf(-0.5f * y * y) * 0.3989422804014327f;\n"
        "    return y * c;"
    ),
    (nn.GELU, "tanh"): (
        "    float k = 0.7978845608028654f, y2 = y * y;\n"
        "    float t = tanhf(k * (y + 0.044715f * y2 * y));\n"
        "    *d = 0.5f * (1.0f + t) + 0.5f * y * (1.0f - t * t) * k * (1.0f + 0.134145f * y2);\n"
        "    return 0.5f * y * (1.0f + t);"
    ),
    (nn.SiLU, ""): (
        "    float s = 1.0f / (1.0f + expf(-y));\n    *d = s * (1.0f + y * (1.0f - s));\n"
        "    return y * s;"
    ),
    (nn.Tanh, ""): "    float t = tanhf(y);\n    *d = 1.0f - t * t;\n    return t;",
    (nn.Sigmoid, ""): (
        "    float s = 1.0f / (1.0f + expf(-y));\n    *d = s * (1.0f - s);\n    return s;"
    ),
}


def activation_body(act: nn.Module) -> str | None:
    """The C body of ``act(y, &d)`` for a known activation module, or None (torch path)."""
    if type(act) is nn.GELU:
        return _BUILTIN_BODIES.get((nn.GELU, act.approximate))
    if type(act) in (nn.ReLU, nn.Identity, nn.SiLU, nn.Tanh, nn.Sigmoid):
        return _BUILTIN_BODIES[(type(act), "")]
    if type(act) is SymbolicActivation and not act.learnable_constants:
        return to_c(act.formula)
    return None


def is_relu(act: nn.Module) -> bool:
    """ReLU's backward reads its output (h > 0), so its kernels keep no derivative array."""
    return type(act) is nn.ReLU


def libm_prototypes(libmvec: bool) -> str:
    """Declarations of the libm functions generated code calls, vectorizable with libmvec.

    ``const`` (no side effects; true with -fno-math-errno) lets gcc vectorize loops that mix
    these calls with branches, which it otherwise refuses once -fno-builtin hides what they are.
    """
    decl = "#pragma omp declare simd notinbranch\n" if libmvec else ""
    return "#include <stdint.h>\n" + "".join(
        f"{decl}float {fn}(float) __attribute__((const));\n" for fn in LIBM_FUNCTIONS
    )


@cache
def _template(name: str = "fused.c") -> str:
    return resources.files("symact.training").joinpath(name).read_text()


def _source(body: str, has_deriv: bool, libmvec: bool) -> str:
    template = _template()
    return (
        f"#define SYMACT_HAS_DERIV {int(has_deriv)}\n{libm_prototypes(libmvec)}\n"
        "__attribute__((always_inline)) static inline float act(float y, float *d) {\n"
        f"{body}\n}}\n\n{template}"
    )


_FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fPIC", "-shared"]


def _cpu_id() -> str:
    """What -march=native depends on: a library built on another CPU may not run here."""
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = next((ln for ln in text.splitlines() if ln.startswith(("flags", "Features"))), "")
    except OSError:
        flags = ""
    return f"{platform.machine()} {platform.processor()} {flags}"


def cache_dir() -> Path:
    env = os.environ.get("SYMACT_KERNEL_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("symact")) / "kernels"


class KernelBuildError(RuntimeError):
    """The fused kernels could not be compiled or loaded."""


def compile_library(source: str, out: Path, *, libmvec: bool, cc: str | None = None) -> None:
    """Compile C ``source`` into the shared library ``out`` with the kernels' flags."""
    cc = cc or os.environ.get("SYMACT_CC", "cc")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        src = Path(tmp) / "kernel.c"
        src.write_text(source)
        tmp_out = Path(tmp) / out.name
        # -fno-builtin: gcc would merge sinf and cosf of one argument into sincosf, which has
        # no vector variant; as plain declared-simd functions both vectorize.
        vector = [f"-fno-builtin-{fn}" for fn in LIBM_FUNCTIONS] if libmvec else []
        libs = ["-lmvec", "-lm"] if libmvec else ["-lm"]
        cmd = [cc, *_FLAGS, *vector, "-fopenmp-simd", str(src), "-o", str(tmp_out), *libs]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise KernelBuildError(f"could not run the C compiler {cc!r}: {exc}") from exc
        if r.returncode != 0:
            raise KernelBuildError(f"{' '.join(cmd)} failed:\n{r.stderr.strip()[-2000:]}")
        os.replace(tmp_out, out)  # atomic: a concurrent build of the same key is harmless


_I64, _F32, _PTR = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p


@dataclass(frozen=True)
class ActivationKernels:
    """One activation's compiled kernels (see fused.c for the arguments)."""

    path: Path
    has_deriv: bool
    lib: ctypes.CDLL  # this activation's forward and backward (fused.c)
    common: ctypes.CDLL  # output layer, Adam, gather (common.c), one library for all

    def __post_init__(self) -> None:
        lib, i64, f32, ptr = self.lib, [_I64], [_F32], [_PTR]
        lib.symact_forward.argtypes = (
            i64 * 4 + ptr * 3 + f32 + ptr + i64 * 2 + [ctypes.c_int32] + f32 + ptr * 5 + f32
        ) + ptr * 2
        lib.symact_backward.argtypes = i64 * 4 + ptr * 7 + f32 * 2 + ptr * 2
        for name in ("symact_forward", "symact_backward"):
            getattr(lib, name).restype = ctypes.c_int
        lib.symact_eval.argtypes = [_I64, _PTR, _PTR, _PTR]
        lib.symact_eval.restype = None
        common = self.common
        common.symact_output.argtypes = i64 * 4 + ptr * 8
        common.symact_output.restype = ctypes.c_int
        common.symact_adam.argtypes = i64 + ptr * 4 + f32 * 5
        common.symact_adam.restype = None
        common.symact_gather.argtypes = i64 * 3 + ptr * 3 + i64 + ptr * 2
        common.symact_gather.restype = None
        common.symact_all_finite.argtypes = i64 + ptr
        common.symact_all_finite.restype = ctypes.c_int

    def evaluate(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """The activation and its derivative at ``y`` (float32, contiguous, CPU)."""
        y = y.contiguous()
        a, d = y.new_empty(y.shape), y.new_empty(y.shape)
        self.lib.symact_eval(y.numel(), y.data_ptr(), a.data_ptr(), d.data_ptr())
        return a, d


_lock = threading.Lock()  # guards the three tables below, never held while compiling
_key_locks: dict[str, threading.Lock] = {}
_loaded: dict[str, tuple[Path, ctypes.CDLL]] = {}  # by source hash
_kernels: dict[Path, ActivationKernels] = {}  # by activation library
_failed: dict[str, str] = {}
_warned: set[str] = set()


def mode() -> str:
    """``SYMACT_KERNELS``: ``auto`` (default), ``fused`` (failures are errors) or ``torch``."""
    value = os.environ.get("SYMACT_KERNELS", "auto").strip().lower() or "auto"
    if value not in ("auto", "fused", "torch"):
        raise ValueError(f"SYMACT_KERNELS must be 'auto', 'fused' or 'torch', got {value!r}")
    return value


def load(act: nn.Module) -> ActivationKernels | None:
    """Compiled kernels for ``act`` (built on first use, then cached), or None.

    None when the activation has no C form, when ``SYMACT_KERNELS=torch``, or when building
    fails in ``auto`` mode (warned once per failure message).
    """
    current = mode()
    body = activation_body(act)
    if current == "torch" or body is None:
        if current == "fused" and body is None:
            raise KernelBuildError(
                f"SYMACT_KERNELS=fused, but activation {act!r} has no C form; "
                "use a built-in module or a formula, or unset SYMACT_KERNELS"
            )
        return None
    has_deriv = not is_relu(act)
    common, message = _library("common")
    lib, message = _library(body, has_deriv) if common is not None else (None, message)
    if common is not None and lib is not None:
        with _lock:
            kernels = _kernels.get(lib[0])
            if kernels is None:
                kernels = ActivationKernels(lib[0], has_deriv, lib[1], common[1])
                _kernels[lib[0]] = kernels
        return kernels
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


def _library(body: str, has_deriv: bool = False) -> tuple[tuple[Path, ctypes.CDLL] | None, str]:
    """Build (once, then cached on disk) and load one library: ``body`` is an activation's C
    body, or ``"common"`` for common.c. With libmvec first, then without. Returns the
    library (None if both builds fail) and the last failure's message."""
    cc = os.environ.get("SYMACT_CC", "cc")
    message = ""
    for libmvec in (True, False):
        if body == "common":
            source = f"{libm_prototypes(libmvec)}\n{_template('common.c')}"
        else:
            source = _source(body, has_deriv, libmvec)
        key = hashlib.sha256(
            "\0".join([source, *_FLAGS, cc, str(libmvec), _cpu_id()]).encode()
        ).hexdigest()[:24]
        with _lock:
            key_lock = _key_locks.setdefault(key, threading.Lock())
        with key_lock:  # one build per library; different libraries build in parallel
            if key in _loaded:
                return _loaded[key], ""
            if key in _failed:
                message = _failed[key]
                continue
            path = cache_dir() / f"symact_{key}.so"
            try:
                if not path.exists():
                    compile_library(source, path, libmvec=libmvec, cc=cc)
                loaded = (path, ctypes.CDLL(str(path)))
            except (KernelBuildError, OSError) as exc:
                message = _failed[key] = str(exc)
                continue
            _loaded[key] = loaded
            return loaded, ""
    return None, message


def prebuild(activations: Iterable[nn.Module]) -> None:
    """Build the kernels of several activations at once (a compile takes ~0.4 s of one core).

    The grid runner calls this before training, so the libraries of a fresh machine are
    compiled in parallel instead of one by one as stacks start.
    """
    bodies = ((activation_body(a), a) for a in activations)
    todo = {body: a for body, a in bodies if body is not None}
    if not todo or mode() == "torch":
        return
    if (os.cpu_count() or 1) < 2:
        for act in todo.values():
            load(act)
        return
    # the shared library builds beside the first activations', not before all of them
    jobs = [lambda: _library("common"), *(partial(load, act) for act in todo.values())]
    with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()

"""Checks of the command line that run before any heavy import or any work.

Each turns a flag's text into a value, or refuses it with a :class:`UsageError`: one line
naming the flag and how to fix it, exit status 2. torch, scikit-learn and matplotlib stay
unimported here, so a typo costs no import time and leaves nothing behind.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from pathlib import Path

from symact.errors import UserError

EXIT_USAGE = 2
#: an internal error (a bug in symact), reported with the file holding its traceback
EXIT_BUG = 1
EXIT_INTERRUPTED = 130
MAX_SEED = 2**32 - 1


class UsageError(UserError, ValueError):
    """A command-line problem found before any work: one line, exit status 2."""


# ------------------------------------------------------------------------------ values


def seed_list(text: str, flag: str = "--seeds") -> tuple[int, ...]:
    """``42,43,44``, ``42-51`` or both (``1-3,7``): distinct seeds in [0, 2**32)."""
    seeds: list[int] = []
    tokens = [t.strip() for t in text.split(",")]
    for token in tokens:
        if not token:
            if any(tokens):
                raise UsageError(f"{flag}: an empty seed in {text!r}; remove the extra comma")
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", token)
        if m is None:
            raise UsageError(
                f"{flag}: {token!r} is not a seed or a range; write e.g. {flag} 42,43 or "
                f"{flag} 42-51 (seeds are integers from 0 to {MAX_SEED})"
            )
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise UsageError(f"{flag}: the range {token!r} runs backwards; write {hi}-{lo}")
        if hi > MAX_SEED:
            raise UsageError(f"{flag}: seed {hi} is above {MAX_SEED}")
        if hi - lo > 10_000:
            raise UsageError(f"{flag}: the range {token!r} holds more than 10,000 seeds")
        seeds.extend(range(lo, hi + 1))
    if not seeds:
        raise UsageError(f"{flag}: no seed given; write e.g. {flag} 42,43,44")
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise UsageError(f"{flag}: seed {twice[0]} is listed twice; list each seed once")
    return tuple(seeds)


def one_seed(text: str, flag: str, hint: str = "") -> int:
    """A flag that takes a single seed (``--seed``, ``--gp-seed``); ``hint``: what to use
    for several."""
    seeds = seed_list(str(text), flag)
    if len(seeds) > 1:
        raise UsageError(f"{flag} takes one seed, got {text!r}{hint}")
    return seeds[0]


def name_list(text: str, flag: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in text.split(","))
    if not any(names):
        raise UsageError(f"{flag}: no name given (got {text!r}); list at least one")
    if any(not n for n in names):
        raise UsageError(f"{flag}: an empty name in {text!r}; remove the extra comma")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"{flag}: {twice[0]!r} is listed twice")
    return names


def split_top_level(text: str) -> list[str]:
    """Split at commas outside parentheses: ``relu,mul(cos(x), x)`` is two activations."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def activation_list(text: str, flag: str = "--activations") -> tuple[str, ...]:
    """Names or formulas (``param:`` before one: its parametric form), each checked now; a
    formula error names its position."""
    from symact.formula import FormulaError
    from symact.formula.named import NAMED_ACTIVATIONS
    from symact.models.spec import canonical_activation
    from symact.search.screen import CONSTANT

    items = split_top_level(text)
    if not any(items) or any(not i for i in items):
        raise UsageError(
            f"{flag}: an empty activation in {text!r}; write e.g. {flag} relu,gelu,'x*tanh(x)'"
        )
    out: list[str] = []
    for position, item in enumerate(items, start=1):
        try:
            canonical = canonical_activation(item)
        except FormulaError as exc:
            raise UsageError(
                f"{flag}: {item!r} is neither a named activation "
                f"({', '.join(NAMED_ACTIVATIONS)}) nor a formula of x, alone or in the "
                f"per-neuron parametric form param:<activation>: {exc}"
            ) from None
        if canonical in out:
            raise UsageError(f"{flag}: {item!r} is listed twice (as {canonical})")
        if activation_reason(canonical) == CONSTANT:
            raise UsageError(
                f"{flag}: activation {position} of {len(items)}, {item!r}, is constant: every "
                "unit of a network with it outputs the same value whatever its input, so it "
                "learns nothing (symact search rejects such formulas too); remove it or make "
                "it depend on x"
            )
        out.append(canonical)
    return tuple(out)


def activation_reason(canonical: str) -> str | None:
    """Why the search's screen would reject an activation (None: it would not), so a
    benchmark refuses and notes exactly what a search rejects. Named activations are
    nonlinear except identity, screened as x."""
    from symact.formula import parse_formula
    from symact.formula.named import named_activation
    from symact.models.spec import split_parametric
    from symact.search.screen import screen

    # the parametric form x + a (f(x) - x) starts as f: screened as f
    canonical = split_parametric(canonical)[1]
    if canonical == "identity":
        canonical = "x"
    elif named_activation(canonical) is not None:
        return None
    return screen(parse_formula(canonical)).reason


def activation_notes(activations: Sequence[str], flag: str = "--activations") -> list[str]:
    """A note for each activation the search would reject other than as constant (linear,
    non-finite or exploding on N(0, 1) inputs): a benchmark trains it as asked."""
    notes = []
    for position, activation in enumerate(activations, start=1):
        reason = activation_reason(activation)
        if reason is not None:
            notes.append(
                f"{flag}: activation {position}, {activation}, is {reason}; it is trained "
                "as asked (symact search would reject it)"
            )
    return notes


def width_list(text: str, flag: str, *, allow_none: bool = False) -> tuple[int, ...] | None:
    if allow_none and text.strip().lower() == "none":
        return None
    try:
        widths = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(
            f"{flag}: expected comma-separated widths like 64,32, got {text!r}"
        ) from None
    if not widths or any(w < 1 or w > 100_000 for w in widths):
        raise UsageError(f"{flag}: widths must be integers from 1 to 100000, got {text!r}")
    return widths


def epochs_value(text: str) -> int | str:
    """``--epochs``: a positive integer (that many epochs) or ``auto`` (early stopping on a
    validation part of the training rows, ``TrainConfig.auto``)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer or auto, got {text!r}"
        ) from None
    return positive_int(text)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {value}")
    return value


def time_limit(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h`` -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if m is None:
        raise argparse.ArgumentTypeError(f"expected a duration like 90s, 15m or 2h, got {text!r}")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


# ------------------------------------------------------------------------------ things named


def check_device(device: str) -> None:
    """--device before torch is imported: auto, cpu, cuda or cuda:N (availability later)."""
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise UsageError(f"--device must be 'cpu', 'cuda' or 'auto', got {device!r}")


def check_datasets(
    names: Sequence[str], args: argparse.Namespace, flags: Sequence[str] | None = None
) -> None:
    """Registry names and files that exist; file options only where a file is named.
    ``flags``: the flag that named each name (default ``--datasets`` for all)."""
    from symact.data.openml import is_openml, parse_openml_source
    from symact.data.registry import REGISTRY, resolve_name

    flag_of = dict(zip(names, flags or ["--datasets"] * len(names), strict=True))
    files = [n for n in names if resolve_name(n) is None]
    for n in files:
        if is_openml(n):
            try:
                parse_openml_source(n)
            except ValueError as exc:
                raise UsageError(f"{flag_of[n]}: {exc}") from None
            continue
        path = Path(n)
        if not path.exists():
            looks_like_file = any(sep in n for sep in "/\\") or "." in path.name
            what = "file not found" if looks_like_file else "not a registry dataset or a file"
            raise UsageError(
                f"{flag_of[n]}: {n!r}: {what}; known datasets: {', '.join(REGISTRY)} "
                "(see `symact datasets`), or the path of a CSV or Parquet file"
            )
        if path.is_dir():
            raise UsageError(f"{flag_of[n]}: {n!r} is a folder; name a CSV or Parquet file")
    used = [
        flag
        for flag, value in (
            ("--target", args.target),
            ("--positive", args.positive),
            ("--drop", args.drop),
        )
        if value is not None
    ]
    if used and not files:
        raise UsageError(
            f"{used[0]} applies to file datasets (CSV/Parquet), and this command names only "
            "registry datasets, whose labels are fixed; remove it or name a file"
        )
    if args.positive is not None and args.labels == "all":
        raise UsageError("--positive makes a task binary; it cannot go with --labels all")


def check_out(out: Path, *, wait: bool = False) -> None:
    """--out must be a folder where a results store can be written (nothing is created);
    held by another run, it is refused naming the holder, unless ``wait`` (``--wait``)."""
    from symact.experiments.store import check_results_folder

    if out.is_symlink() and not out.exists():
        raise UsageError(
            f"--out {out} is a symbolic link to {os.readlink(out)}, which does not exist; "
            "create its target, or name a folder that exists or can be created"
        )
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; name a folder (it is created if missing)")
    if out.is_dir() and not (out / "symact.sqlite").exists():
        others = sorted(p.name for p in out.iterdir() if not p.name.startswith(".symact"))
        if others:
            raise UsageError(
                f"--out {out} holds other files ({', '.join(others[:3])}"
                f"{', ...' if len(others) > 3 else ''}) and no symact results store; symact "
                "would overwrite its outputs there: choose a new or empty folder"
            )
    check_results_folder(out, held_ok=wait)


def checked_out_and_executor(args: argparse.Namespace) -> Path:
    """``--out`` and the executor flags of a command that trains, checked before any heavy
    import and before anything is created. Returns the ``--out`` folder."""
    if not args.out.strip():  # Path("") is the current folder
        raise UsageError("--out is empty; name a folder, e.g. --out results")
    out = Path(args.out)
    check_out(out, wait=args.wait)
    from symact.training.kernel_cache import check_kernel_cache

    check_kernel_cache()
    if args.executor == "ray":
        from symact.experiments.ray_executor import check_ray_installed

        check_ray_installed()
    elif args.ray_address is not None:
        raise UsageError(
            "--ray-address names a Ray cluster for --executor ray; add --executor ray, or "
            "leave out --ray-address"
        )
    return out

"""Labels: from a file's label column to int64 class indices, and the checks every task needs.

Two tasks exist (``labels=``):

* ``"binary"`` (the paper's): y is 0/1. A user file's 0/1 (or true/false) labels are used as
  they are; otherwise ``positive`` names the class that becomes 1 and every other class
  becomes 0 (one-vs-rest).
* ``"all"``: every class is kept; y is 0..C-1 in the order of ``classes``, the label values
  sorted (numerically when every value is a number, else as text). ``positive`` does not
  apply.

``classes`` names the classes in index order: the label values as text (``"1"``, ``"yes"``)
and, for one-vs-rest, ``("not <positive>", "<positive>")`` (or the other class's own name
when there are just two). Whatever the task, every class needs ``MIN_PER_CLASS`` rows (an
unstratified 80/20 split could otherwise leave one out of training or test) and the dataset
``MIN_ROWS``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from symact.data.errors import DataError, Option

LABEL_MODES = ("binary", "all")
MIN_ROWS = 10
MIN_PER_CLASS = 2
_TRUE_WORDS = {"1", "1.0", "true"}
_FALSE_WORDS = {"0", "0.0", "false"}
_SHOWN_CLASSES = 10
#: The options that turn a multi-class task binary: registry datasets, and files.
REGISTRY_BINARY = Option("labels", value="binary")
FILE_BINARY = Option("positive", placeholder="<class>")


def checked_labels_mode(labels: object) -> str:
    """``labels`` if it is one of ``LABEL_MODES``; a DataError naming them otherwise."""
    if labels not in LABEL_MODES:
        raise DataError(
            Option("labels", value=labels),
            f" is not a label mode; use {' or '.join(repr(m) for m in LABEL_MODES)} "
            "(binary: two classes, 0/1; all: every class, 0..C-1)",
        )
    return str(labels)


def value_text(value: float) -> str:
    """A numeric label as its class name: ``2.0`` -> ``"2"``, ``0.5`` -> ``"0.5"``."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _shown(classes: list[str]) -> str:
    more = " ..." if len(classes) > _SHOWN_CLASSES else ""
    return ", ".join(repr(c) for c in classes[:_SHOWN_CLASSES]) + more


def file_labels(
    labels: pd.Series, *, positive: object, mode: str, name: str, path: Path
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The label column ``name`` of ``path`` as ``(y, classes)`` for the task ``mode``."""
    missing = int(labels.isna().sum())
    if missing:
        raise DataError(
            f"label column {name!r} of {path} is missing in {missing} rows; "
            "drop those rows or fill them first"
        )
    text = labels.astype(str).str.strip()
    if mode == "all":
        if positive is not None:
            raise DataError(
                Option("positive", value=positive),
                " makes the task binary, but ",
                Option("labels", value="all"),
                " keeps every class; pass one of them, not both",
            )
        return _all_classes(text, name, path)
    if positive is not None:
        return _one_vs_rest(labels, text, positive, name, path)
    return _zero_one(text, name, path)


def _sorted_classes(text: pd.Series) -> list[str]:
    """Distinct label texts: numerically sorted when all are numbers, else as text."""
    distinct = sorted(set(text))
    numbers = {t: _number(t) for t in distinct}
    if all(v is not None for v in numbers.values()):
        return sorted(distinct, key=lambda t: (numbers[t], t))
    return distinct


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def _all_classes(text: pd.Series, name: str, path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    classes = _sorted_classes(text)
    if len(classes) < 2:
        raise DataError(
            f"label column {name!r} of {path} has a single class ({_shown(classes)}); "
            "a classifier needs two or more"
        )
    index = {c: i for i, c in enumerate(classes)}
    y = text.map(index).to_numpy(dtype=np.int64)
    return y, tuple(classes)


def _zero_one(text: pd.Series, name: str, path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    classes = sorted(set(text))
    lowered = {c.lower(): c for c in classes}
    if len(classes) == 2 and set(lowered) <= _TRUE_WORDS | _FALSE_WORDS and _is_01(lowered):
        negative = next(c for low, c in lowered.items() if low in _FALSE_WORDS)
        positive = next(c for low, c in lowered.items() if low in _TRUE_WORDS)
        y = text.str.lower().isin(_TRUE_WORDS).to_numpy().astype(np.int64)
        return y, (negative, positive)
    shown = _shown(classes)
    if len(classes) < 2:
        raise DataError(
            f"label column {name!r} of {path} has a single class ({shown}); a binary task needs two"
        )
    if len(classes) > 2:
        raise DataError(
            f"label column {name!r} of {path} has {len(classes)} classes ({shown}); pass ",
            Option("positive", placeholder="<class>"),
            " to make it binary (that class -> 1, the rest -> 0), ",
            Option("labels", value="all"),
            " to keep every class, or ",
            Option("target", placeholder="<column>"),
            " if this is not the label",
        )
    raise DataError(
        f"label column {name!r} of {path} has classes {shown}, not 0/1; pass ",
        Option("positive", placeholder="<class>"),
        " to say which becomes 1, e.g. ",
        Option("positive", value=classes[-1]),
    )


def _is_01(lowered: dict[str, str]) -> bool:
    return bool(set(lowered) & _TRUE_WORDS) and bool(set(lowered) & _FALSE_WORDS)


def _one_vs_rest(
    labels: pd.Series, text: pd.Series, positive: object, name: str, path: Path
) -> tuple[np.ndarray, tuple[str, ...]]:
    classes = _sorted_classes(text)
    wanted = str(positive).strip()
    hit = text == wanted
    if not hit.any() and pd.api.types.is_numeric_dtype(labels) and _number(wanted) is not None:
        hit = labels.astype(float) == float(wanted)
    if not hit.any():
        raise DataError(
            Option("positive", value=positive),
            f" is not a class of label column {name!r} in {path}; classes found: {_shown(classes)}",
        )
    if hit.all():
        raise DataError(
            f"every row of {path} has label {positive!r}; a binary task needs two classes"
        )
    chosen = text[hit].iloc[0]
    others = [c for c in classes if c not in set(text[hit])]
    negative = others[0] if len(others) == 1 else f"not {chosen}"
    return hit.to_numpy().astype(np.int64), (negative, chosen)


def check_enough_rows(
    y: np.ndarray,
    classes: tuple[str, ...],
    source: str,
    *,
    binary_hint: Option = REGISTRY_BINARY,
) -> None:
    """Refuse label vectors too short to split, or with a class too small to train and test.

    ``binary_hint`` is the option suggested when a multi-class task has a class too small
    (``labels='binary'`` for registry datasets, ``positive=<class>`` for files).
    """
    if len(y) < MIN_ROWS:
        raise DataError(f"{source} has {len(y)} rows; at least {MIN_ROWS} are needed to split")
    counts = np.bincount(y, minlength=len(classes))
    small = [(c, int(n)) for c, n in zip(classes, counts, strict=True) if n < MIN_PER_CLASS]
    if not small:
        return
    detail = ", ".join(f"{c!r}: {n}" for c, n in small[:_SHOWN_CLASSES])
    if len(small) > _SHOWN_CLASSES:  # a continuous column read as labels: keep it one line
        detail += f", ...: {len(small)} of the {len(classes)} classes, in {len(y)} rows"
    else:
        detail += f" of {len(y)} rows"
    parts: list[str | Option] = [
        f"{source} has too few rows of {'a class' if len(small) == 1 else 'some classes'} "
        f"({detail}); at least {MIN_PER_CLASS} of each class are needed to "
        "train and test. Load more rows"
    ]
    if len(classes) > 2:
        parts += [", or make the task binary with ", binary_hint]
    if len(classes) > 20 and 20 * len(classes) > len(y):  # under 20 rows a class on average
        parts += [
            f". The label has {len(classes)} distinct values in {len(y)} rows: if it is a "
            "measurement, not a class, name the class column with ",
            Option("target", placeholder="<column>"),
        ]
    raise DataError(*parts)

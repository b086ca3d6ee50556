"""Checks of the data stage's scalar arguments (rows, seeds), made where they enter.

A seed reaches numpy's ``RandomState`` and scikit-learn's ``train_test_split``, which accept
integers in [0, 2**32) and otherwise fail with their own internal wording; checking here
gives one message that names the option the user set.
"""

from __future__ import annotations

import numpy as np

from symact.data.errors import DataError, Option

#: Seeds are what numpy's RandomState (and so scikit-learn) accepts: 0 <= seed < 2**32.
SEED_LIMIT = 2**32
_RANGE = "from 0 to 4,294,967,295 (2**32 - 1)"


def checked_seed(seed: object, *, name: str = "seed", flag: str | None = None) -> int:
    """``seed`` as an int in [0, 2**32), or a DataError naming the option (``name``/``flag``)."""
    mention = Option(name, value=seed, flag=flag)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise DataError(mention, f" is not an integer; a seed is a whole number {_RANGE}")
    if not 0 <= seed < SEED_LIMIT:
        raise DataError(mention, f" is out of range: a seed must be a whole number {_RANGE}")
    return int(seed)


def checked_rows(rows: object) -> int | None:
    """``rows`` as a positive int, or None (the dataset's default); a DataError otherwise."""
    if rows is None:
        return None
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or rows < 1:
        raise DataError(
            Option("rows", value=rows),
            " is not a positive integer; pass a number of rows >= 1, or None for the "
            "dataset's default",
        )
    return int(rows)

"""The single exception type of the data stage.

Every bad input the data stage can meet (an unknown name, a missing or malformed file, a
failed download, labels that are not binary) raises :class:`DataError`, so callers and the
CLI catch one type and print its message, which always says what was wrong and what to do.
"""

from __future__ import annotations


class DataError(ValueError):
    """A dataset could not be found, fetched, verified or turned into a binary task."""

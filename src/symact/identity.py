"""A spec's identity: the fields that decide its result, as JSON values, defaults left out.

Run keys hash the identity of their specs (``experiments.specs``). A field at its default
is left out, so adding a field whose default keeps the old behaviour leaves every stored
run's key unchanged: a results folder written before the addition is still found by a
rerun instead of being trained again. Changing a default changes results, and with them
the protocol version (:data:`PROTOCOL_VERSION`) too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Any

# Bumped whenever a change in the code would change the result of an unchanged spec, or
# the key of one. A store holding runs of another version is refused (``experiments.store``).
# 2: a run's network is a ModelSpec (dropout and BatchNorm moved there from TrainConfig),
#    its split a SplitSpec; dropout's scale applied to the activations.
# 3: a run's data is named by the fingerprint of the rows it loaded (DataSpec.fingerprint);
#    spec fields at their defaults are left out of keys (symact.identity); failed runs
#    say whether a rerun should retry them (failure_kind).
# Early stopping (TrainConfig.patience, None by default) needed no bump: a run without it
# keeps its key; the CLI's default for suite files and the user's own files became
# ``--epochs auto``, which gives their runs new keys, while old keys stay valid for the
# fixed epochs they were trained with.
PROTOCOL_VERSION = 3


def identity_dict(spec: Any, *, exclude: Collection[str] = ()) -> dict[str, Any]:
    """The fields of the dataclass ``spec`` that differ from their defaults, as JSON values
    (tuples as lists, nested dataclasses as their own identity); fields in ``exclude`` (a
    setting that does not change the result, such as a thread count) are left out."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(spec):
        if f.name in exclude:
            continue
        value = getattr(spec, f.name)
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            out[f.name] = _json(value)
            continue
        if not _same(value, default):
            out[f.name] = _json(value)
    return out


def _same(value: Any, default: Any) -> bool:
    # bool is an int: True where the default is 1 is another setting, not the default
    return isinstance(value, bool) == isinstance(default, bool) and value == default


def _json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return identity_dict(value)
    if isinstance(value, (tuple, list)):
        return [_json(v) for v in value]
    return value

"""The package namespaces: every exported name resolves, on first use, to the real object."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ("symact", "symact.formula", "symact.models", "symact.training", "symact.experiments")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves_and_is_kept(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        assert value is not None, name
        assert vars(module)[name] is value  # imported once, then an ordinary attribute
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nope'"):
        module.nope  # noqa: B018


def test_lazy_names_are_the_defining_modules_objects():
    import symact
    from symact.formula.activation import make_activation
    from symact.models.network import Network
    from symact.training.trainer import train_stack

    assert symact.make_activation is make_activation
    assert importlib.import_module("symact.models").Network is Network
    assert importlib.import_module("symact.training").train_stack is train_stack

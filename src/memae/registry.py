"""The one registry of detector classes.

Every concrete subclass of :class:`memae.BaseDetector` registers itself when its
class statement runs (``BaseDetector.__init_subclass__``), under its class name
(what a model file records) and a short ``model_key`` (the CLI's ``--model`` value
and the preset tables' column). The CLI choices, :func:`memae.load`, the presets
and the contract tests all read this registry; nothing else lists detectors.

A user's detector registers the same way as soon as its module is imported.
:func:`memae.load` never imports a module named in a model file (that would run
code chosen by whoever wrote the file); it says which module to import instead.
"""

from __future__ import annotations

import importlib
from typing import Any

_BY_NAME: dict[str, type] = {}
_BY_KEY: dict[str, type] = {}


def register(cls: type, model_key: str) -> None:
    """Record ``cls`` under its class name and ``model_key``.

    Defining a class again in the same module (a re-run notebook cell, a reloaded
    module) replaces it; another module's class of the same name or key is an error.
    """
    for table, name in ((_BY_NAME, cls.__name__), (_BY_KEY, model_key)):
        old = table.get(name)
        if old is not None and _where(old) != _where(cls):
            raise ValueError(
                f"a detector named {name!r} is already registered by {_where(old)}; "
                f"{_where(cls)} needs another class name or model_key"
            )
    _BY_NAME[cls.__name__] = cls
    _BY_KEY[model_key] = cls


def _where(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _builtin() -> None:
    """Import memae's own detectors (``import memae`` is lazy, so they may not be yet)."""
    importlib.import_module("memae.detectors")


def detectors() -> dict[str, type]:
    """Class name -> class of every registered detector, in registration order."""
    _builtin()
    return dict(_BY_NAME)


def model_keys() -> dict[str, type]:
    """``model_key`` -> class of every registered detector."""
    _builtin()
    return dict(_BY_KEY)


def get(name: str, module: str | None = None) -> type:
    """The registered class called ``name`` (a model file's ``detector`` field).

    ``module`` (recorded by the file) only improves the error message.
    """
    _builtin()
    try:
        return _BY_NAME[name]
    except KeyError:
        hint = (
            f"; it was saved from module {module!r}: import that module first (memae never "
            "imports code named by a model file)"
            if module and not module.startswith("memae.")
            else ""
        )
        raise KeyError(
            f"unknown detector class {name!r} (registered: {sorted(_BY_NAME)}){hint}"
        ) from None


def resolve(spec: str) -> type:
    """A detector class from a ``model_key`` (``"memae"``) or ``"module:Class"``.

    ``module:Class`` imports ``module`` (the user named it, on their command line)
    and requires ``Class`` to be a registered detector.
    """
    _builtin()
    if ":" not in spec:
        if spec not in _BY_KEY:
            raise ValueError(
                f"unknown model {spec!r}; choose one of {sorted(_BY_KEY)} or give "
                "'module:Class' for a detector of your own"
            )
        return _BY_KEY[spec]
    module, _, name = spec.partition(":")
    try:
        obj: Any = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        raise ValueError(f"cannot import module {module!r} for --model {spec}: {exc}") from None
    except AttributeError:
        raise ValueError(f"module {module!r} has no attribute {name!r}") from None
    if obj not in _BY_NAME.values():
        raise ValueError(f"{spec} is not a registered memae detector (a BaseDetector subclass)")
    return obj

"""Declarative parameter constraints, scikit-learn style (``_parameter_constraints``).

Each detector class declares, per parameter, the types, ranges and choices it takes;
:func:`check_params` merges the declarations along the class hierarchy and checks a
detector's parameters before any pass over the data. A failure raises scikit-learn's
``InvalidParameterError`` (a ``ValueError`` and a ``TypeError``) naming the
parameter, the value and what is allowed. Real-valued parameters must also be finite.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_parameter_constraints,
)

__all__ = [
    "Integral",
    "Interval",
    "InvalidParameterError",
    "Options",
    "Real",
    "StrOptions",
    "check_params",
    "non_negative",
    "positive",
    "positive_int",
]


def positive_int() -> Interval:
    return Interval(Integral, 1, None, closed="left")


def positive() -> Interval:
    return Interval(Real, 0, None, closed="neither")


def non_negative() -> Interval:
    return Interval(Real, 0, None, closed="left")


def constraints_of(cls: type) -> dict[str, list[Any]]:
    """``_parameter_constraints`` merged from the base classes down to ``cls``."""
    merged: dict[str, list[Any]] = {}
    for klass in reversed(cls.__mro__):
        merged.update(klass.__dict__.get("_parameter_constraints", {}))
    return merged


def check_params(estimator: Any) -> None:
    """Check ``estimator.get_params()`` against its class's declared constraints."""
    params = estimator.get_params(deep=False)
    name = type(estimator).__name__
    validate_parameter_constraints(constraints_of(type(estimator)), params, caller_name=name)
    for key, value in params.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidParameterError(
                f"The {key!r} parameter of {name} must be finite. Got {value!r} instead."
            )

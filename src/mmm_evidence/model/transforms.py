"""Media transforms shared by the generator and MMM v2: geometric adstock and Hill saturation."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

STEADY_STATE_WEEKS = 13


def imported_on_first_call(module: str, name: str, namespace: dict[str, Any]) -> Callable:
    """A stand-in for ``module.name`` that imports it on its first call and binds the real
    function under ``name`` in ``namespace`` (a module's ``globals()``), so later calls go
    straight to it. Importing scipy.signal or scipy.optimize takes seconds, which code that
    only reads data, a fitted model's JSON or the artifacts never needs."""
    def first_call(*args: Any, **kwargs: Any) -> Any:
        function = getattr(importlib.import_module(module), name)
        namespace[name] = function
        return function(*args, **kwargs)

    first_call.__name__ = first_call.__qualname__ = name
    return first_call


lfilter = imported_on_first_call("scipy.signal", "lfilter", globals())


def steady_state_start(x: np.ndarray, weeks: int = STEADY_STATE_WEEKS) -> np.ndarray:
    """Adstock level before the first week: the mean of the first `weeks` weeks (last axis)."""
    x = np.asarray(x, dtype=float)
    return x[..., : max(1, min(weeks, x.shape[-1]))].mean(axis=-1)


def delay_spend(x: np.ndarray, weeks: int) -> np.ndarray:
    """``x`` delayed by ``weeks`` along the last axis: week t gets week t − weeks's value; the
    first ``weeks`` weeks, whose spend lies before the data, get the steady-state level (the
    mean of the first weeks, as the adstock's start). 0 returns ``x`` itself."""
    x = np.asarray(x, dtype=float)
    weeks = int(weeks)
    if weeks < 0:
        raise ValueError(f"a delay must be >= 0 weeks, got {weeks}")
    if weeks == 0:
        return x
    t_n = x.shape[-1]
    fill = np.broadcast_to(steady_state_start(x)[..., np.newaxis],
                           x.shape[:-1] + (min(weeks, t_n),))
    return np.concatenate([fill, x[..., : max(t_n - weeks, 0)]], axis=-1)


def geometric_adstock(
    x: np.ndarray, decay: float, start: np.ndarray | float | None = None
) -> np.ndarray:
    """Normalised geometric adstock along the last axis: a_t = decay·a_{t-1} + (1 − decay)·x_t.

    The weights sum to one, so a constant spend x gives a = x. ``start`` is the level a_{-1}
    before the first week; None means a steady state at the mean of the first weeks' spend.
    """
    x = np.asarray(x, dtype=float)
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"decay must be in [0, 1), got {decay}")
    if start is None:
        start = steady_state_start(x)
    start = np.broadcast_to(np.asarray(start, dtype=float), x.shape[:-1])
    if decay == 0.0:
        return x.copy()
    zi = (decay * start)[..., np.newaxis]
    out, _ = lfilter([1.0 - decay], [1.0, -decay], x, axis=-1, zi=zi)
    return out


def hill(a: np.ndarray, half_saturation: float, shape: float) -> np.ndarray:
    """Hill saturation a^s / (a^s + K^s), in [0, 1); 0 at a = 0 and 1/2 at a = K."""
    if half_saturation <= 0 or shape <= 0:
        raise ValueError(f"half_saturation and shape must be > 0, got {half_saturation}, {shape}")
    a = np.maximum(np.asarray(a, dtype=float), 0.0)
    r = np.power(a / half_saturation, shape)
    return r / (1.0 + r)


def hill_derivative(a: np.ndarray, half_saturation: float, shape: float) -> np.ndarray:
    """d Hill / d a."""
    a = np.maximum(np.asarray(a, dtype=float), 1e-300)
    r = np.power(a / half_saturation, shape)
    return shape * r / (a * (1.0 + r) ** 2)

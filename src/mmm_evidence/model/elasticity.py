"""The project's elasticity definition, for any model that predicts KPI from spend."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from mmm_evidence.data.panel import Panel


class PredictsFromSpend(Protocol):
    channels: tuple[str, ...]

    def predict(self, panel: Panel, spend: np.ndarray | None = None) -> np.ndarray: ...


def spend_elasticities(model: PredictsFromSpend, panel: Panel,
                       step: float = 0.01) -> dict[str, float]:
    """Per channel: % change of total predicted KPI over the panel when the channel's spend is
    multiplied by (1 + step) in every week, divided by step in % (DESIGN.md's definition; the
    synthetic generator's truth uses the same one)."""
    total = float(model.predict(panel).sum())
    out = {}
    for c, ch in enumerate(panel.channels):
        spend = np.array(panel.spend, dtype=float, copy=True)
        spend[:, :, c] *= 1.0 + step
        out[ch] = float((model.predict(panel, spend).sum() - total) / total / step)
    return out

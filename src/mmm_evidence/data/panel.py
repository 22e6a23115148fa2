"""The in-memory shape of one tenant's data: a segment x week panel of arrays."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Panel:
    """One tenant's weekly data, segment-major.

    Shapes: G segments, T weeks, C channels, K controls.
    ``kpi`` (G, T); ``spend`` (G, T, C); ``controls`` (G, T, K); ``size`` (G,), mean 1.
    """

    tenant: str
    dates: pd.DatetimeIndex
    segments: tuple[str, ...]
    channels: tuple[str, ...]
    control_names: tuple[str, ...]
    kpi: np.ndarray
    spend: np.ndarray
    controls: np.ndarray
    size: np.ndarray
    kpi_name: str = "revenue"
    attributes: pd.DataFrame | None = None
    truth: dict | None = None
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        g, t = len(self.segments), len(self.dates)
        c, k = len(self.channels), len(self.control_names)
        expected = {"kpi": (g, t), "spend": (g, t, c), "controls": (g, t, k), "size": (g,)}
        for name, shape in expected.items():
            actual = np.shape(getattr(self, name))
            if actual != shape:
                raise ValueError(f"Panel {self.tenant!r}: {name} has shape {actual}, "
                                 f"expected {shape}")

    @property
    def n_weeks(self) -> int:
        return len(self.dates)

    @property
    def n_segments(self) -> int:
        return len(self.segments)

    def total_kpi(self) -> np.ndarray:
        """Weekly KPI summed over segments, shape (T,)."""
        return self.kpi.sum(axis=0)

    def weeks(self, start: int | None = None, stop: int | None = None) -> Panel:
        """The same panel restricted to weeks[start:stop] (truth is kept as is)."""
        sl = slice(start, stop)
        return replace(self, dates=self.dates[sl], kpi=self.kpi[:, sl], spend=self.spend[:, sl],
                       controls=self.controls[:, sl])

    def true_media(self) -> tuple[list[float], list[float], list[float]] | None:
        """The true (decay, per-capita half-saturation, shape) of every channel from the
        truth, or None when the truth does not give all three, finite, for every channel (a
        real tenant's truth file, an external dataset with another media form)."""
        channels = (self.truth or {}).get("channels") or {}
        keys = ("decay", "half_saturation_per_capita", "shape")
        try:
            values = tuple([float(channels[c][k]) for c in self.channels] for k in keys)
        except (KeyError, TypeError, ValueError):
            return None
        return values if all(np.isfinite(v).all() for v in values) else None

    def with_spend(self, spend: np.ndarray) -> Panel:
        return replace(self, spend=np.asarray(spend, dtype=float))

    def to_frame(self) -> pd.DataFrame:
        """Long frame in the canonical CSV layout: date, segment, kpi, spend_<c>, controls."""
        g, t = self.kpi.shape
        frame = pd.DataFrame({
            "date": np.tile(self.dates.strftime("%Y-%m-%d"), g),
            "segment": np.repeat(np.array(self.segments, dtype=object), t),
            self.kpi_name: self.kpi.reshape(-1),
        })
        for i, ch in enumerate(self.channels):
            frame[f"spend_{ch}"] = self.spend[:, :, i].reshape(-1)
        for i, name in enumerate(self.control_names):
            frame[name] = self.controls[:, :, i].reshape(-1)
        return frame

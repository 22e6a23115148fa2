"""The in-memory shape of one tenant's data: a segment x week panel of arrays."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd


def kpi_size(kpi: np.ndarray, segments: tuple[str, ...], dates: pd.DatetimeIndex) -> np.ndarray:
    """Each segment's mean KPI over the given weeks, scaled to mean 1 (the segment size of a
    tenant without ``segment_size``). ValueError naming the segments whose mean is not > 0."""
    size = np.asarray(kpi, dtype=float).mean(axis=1)
    bad = np.flatnonzero(~(size > 0))
    if bad.size:
        span = (f"{dates[0].date()} to {dates[-1].date()}" if len(dates) else "no weeks")
        shown = ", ".join(f"{segments[i]!r}: {size[i]:g}" for i in bad[:5].tolist())
        raise ValueError(f"segment size is the mean KPI (no 'segment_size'), and it is not > 0 "
                         f"over {span} for segment {shown}: give the tenant a "
                         f"'segment_size' attribute column")
    return size / size.mean()


@dataclass(frozen=True)
class Panel:
    """One tenant's weekly data, segment-major.

    Shapes: G segments, T weeks, C channels, K controls.
    ``kpi`` (G, T); ``spend`` (G, T, C); ``controls`` (G, T, K); ``size`` (G,), mean 1.
    ``size_from_kpi``: the size is each segment's mean KPI (a tenant without
    ``segment_size``); ``weeks`` then re-derives it from the weeks it keeps, so a fit on the
    training weeks never sees the held-out KPI through the segment sizes.
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
    size_from_kpi: bool = False

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
        """The same panel restricted to weeks[start:stop] (truth is kept as is). A size taken
        from the KPI (``size_from_kpi``) is re-derived from the kept weeks."""
        sl = slice(start, stop)
        kpi = self.kpi[:, sl]
        size = kpi_size(kpi, self.segments, self.dates[sl]) if self.size_from_kpi else self.size
        return replace(self, dates=self.dates[sl], kpi=kpi, spend=self.spend[:, sl],
                       controls=self.controls[:, sl], size=size)

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

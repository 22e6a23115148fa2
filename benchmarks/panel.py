"""Random plausible synthetic tenants for the recovery benchmark (issue 3's panel)."""

from __future__ import annotations

import numpy as np

from mmm_evidence.config import TenantConfig

CHANNEL_NAMES = ("tv", "search", "social", "display", "radio", "video", "print", "ooh",
                 "podcast", "email", "affiliate", "cinema")

#: The panel's media response ranges: decay uniform, half-saturation (x mean adstocked
#: per-capita spend) and Hill shape log-uniform between these bounds.
DECAY_RANGE = (0.0, 0.8)
HALF_SATURATION_RANGE = (0.3, 3.0)
SHAPE_RANGE = (0.7, 3.0)


def random_tenant(seed: int, segments: int, noise: float, weeks: int = 156,
                  channels: int | None = None) -> TenantConfig:
    """A tenant drawn from a wide, plausible process family (not the default tenants'): 3-8
    channels, or ``channels`` (1 to ``len(CHANNEL_NAMES)``; the count is drawn either way, so
    a seed's other draws start the same)."""
    rng = np.random.default_rng(seed)
    n_channels = int(rng.integers(3, 9))
    if channels is not None:
        if not 1 <= channels <= len(CHANNEL_NAMES):
            raise ValueError(f"channels={channels}: expected 1 to {len(CHANNEL_NAMES)}")
        n_channels = channels
    names = list(CHANNEL_NAMES[:n_channels])
    media_share = rng.uniform(0.10, 0.50)
    raw = rng.dirichlet(np.full(n_channels, 1.2))
    shares = raw * media_share
    channels = {}
    for name, share in zip(names, shares, strict=True):
        flighted = rng.random() < 0.4
        channels[name] = {
            "pattern": "flighted" if flighted else "always_on",
            "weekly_spend": float(np.exp(rng.uniform(np.log(5e3), np.log(2e5)))),
            "decay": float(rng.uniform(*DECAY_RANGE)),
            "half_saturation": float(np.exp(rng.uniform(*np.log(HALF_SATURATION_RANGE)))),
            "shape": float(np.exp(rng.uniform(*np.log(SHAPE_RANGE)))),
            "share": float(share),
            "flight_on_fraction": float(rng.uniform(0.3, 0.7)),
        }
    controls = {"price_index": {"kind": "price", "effect": float(rng.uniform(-2, -0.3)),
                                "volatility": float(rng.uniform(0.01, 0.05))},
                "holiday": {"kind": "holiday", "effect": float(rng.uniform(0.0, 0.4))}}
    spec = {
        "seed": int(rng.integers(0, 2**31 - 1)),
        "weeks": weeks,
        "segments": segments,
        "noise": noise,
        "base_per_capita": float(rng.uniform(0.1, 0.5)),
        "trend": float(rng.uniform(-0.1, 0.3)),
        "seasonality": float(rng.uniform(0.0, 0.3)),
        "segment_heterogeneity": float(rng.uniform(0.0, 0.2)),
        "spend_correlation": float(rng.uniform(0.0, 0.7)),
        "timing_spread_weeks": int(rng.integers(0, 6)) if segments > 1 else 0,
        "channels": channels,
        "controls": controls,
    }
    return TenantConfig.model_validate({
        "name": f"random_{seed}", "channels": names, "controls": list(controls),
        "segment_size": "population", "data": {"synthetic": spec}})

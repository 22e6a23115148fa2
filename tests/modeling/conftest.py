"""A small synthetic tenant (the generator's process, not the model's form) as a Panel."""

from __future__ import annotations

from mmm_evidence.config import TenantConfig
from mmm_evidence.data.panel import Panel
from mmm_evidence.data.synthetic import simulate_panel

SMALL_TENANT = {
    "name": "small_shop",
    "channels": ["tv", "search", "social"],
    "controls": ["price_index"],
    "segment_size": "population",
    "data": {"synthetic": {
        "seed": 31, "weeks": 104, "segments": 4, "noise": 0.04, "trend": 0.1,
        "seasonality": 0.1, "spend_correlation": 0.3, "timing_spread_weeks": 3,
        "channels": {
            "tv": {"pattern": "flighted", "weekly_spend": 40000, "decay": 0.5,
                   "half_saturation": 0.8, "shape": 1.3, "share": 0.12},
            "search": {"pattern": "always_on", "weekly_spend": 20000, "decay": 0.1,
                       "half_saturation": 0.7, "shape": 1.0, "share": 0.08},
            "social": {"pattern": "always_on", "weekly_spend": 15000, "decay": 0.3,
                       "half_saturation": 0.9, "shape": 1.2, "share": 0.05},
        },
        "controls": {"price_index": {"kind": "price", "effect": -1.0, "volatility": 0.03}},
    }},
}


def synthetic_panel(spec: dict = SMALL_TENANT) -> Panel:
    """Simulate ``spec`` (a tenant YAML as a dict) in memory; size = population / mean."""
    return simulate_panel(TenantConfig.model_validate(spec))

"""Synthetic tenants with known ground truth, driven by a tenant YAML's ``data.synthetic`` spec.

The data-generating process is deliberately *not* the model's own form:

- segment populations are log-normal; per-capita spend intensity differs by segment;
- spend has a national common factor (channel correlation), channel-specific drift,
  seasonal budgeting, always-on or flighted patterns, and segment-specific timing
  (flights shifted by a few weeks per segment, some flights skipped locally);
- the media response is geometric adstock (carrying over from a real pre-period, not a
  steady state) and Hill saturation on per-capita spend, with a segment-specific multiplier
  on each channel's effect (so no single pooled coefficient is exactly right);
- the baseline is multiplicative: segment level x curved trend x yearly seasonality (two
  harmonics, segment-specific amplitude) x control effects (price, holidays, promotions);
- noise is heteroscedastic (a fraction of expected segment-week KPI) and autocorrelated.

Ground truth (``truth.json``) follows DESIGN.md: the elasticity of channel c is the percent
change of total expected KPI over the window when c's spend is x1.01 in every week of the
window, divided by 1 %, through the true process including carryover.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from mmm_evidence.config import SyntheticSpec, TenantConfig
from mmm_evidence.data.lift import attach_lift_tests
from mmm_evidence.data.panel import Panel

REGIONS = ("North", "South", "East", "West", "Central")
INCOME_TIERS = ("low", "middle", "high")
URBANICITY = ("urban", "suburban", "rural")
TRUTH_DEFINITION = (
    "elasticity: % change of total expected KPI over the window when the channel's spend is "
    "multiplied by 1.01 in every week of the window, divided by 1 %, through the true process "
    "including carryover (carryover beyond the window end is not counted); contribution: "
    "the channel's additive media effect over the window; contribution_share: contribution / "
    "total expected KPI; roi: contribution / spend; segment uplift_10pct: change of the "
    "segment's expected KPI when every channel's spend is x1.10"
)


@dataclass(frozen=True)
class SyntheticTenant:
    frame: pd.DataFrame
    attributes: pd.DataFrame
    truth: dict
    lift_tests: pd.DataFrame | None = None


# --------------------------------------------------------------------------- helpers


def _ar1(rng: np.random.Generator, n: int, rho: float, size: tuple[int, ...] = ()) -> np.ndarray:
    """Stationary AR(1) with unit variance along the last axis."""
    eps = rng.standard_normal(size + (n,))
    out = np.empty_like(eps)
    out[..., 0] = eps[..., 0]
    scale = np.sqrt(1.0 - rho**2)
    for t in range(1, n):
        out[..., t] = rho * out[..., t - 1] + scale * eps[..., t]
    return out


def _week_starts(start: date, n: int) -> list[date]:
    monday = start - timedelta(days=start.weekday())
    return [monday + timedelta(weeks=i) for i in range(n)]


def _holiday_weeks(weeks: list[date]) -> np.ndarray:
    """1 for weeks holding Christmas, New Year's day or US Thanksgiving (Mon-Sun weeks)."""
    flags = np.zeros(len(weeks))
    for i, monday in enumerate(weeks):
        days = [monday + timedelta(days=d) for d in range(7)]
        for day in days:
            if (day.month, day.day) in {(12, 25), (1, 1)}:
                flags[i] = 1.0
            if day.month == 11 and day.weekday() == 3 and 22 <= day.day <= 28:
                flags[i] = 1.0
    return flags


def _flight_schedule(rng: np.random.Generator, n: int, on_fraction: float) -> np.ndarray:
    """Alternating on/off blocks (2-6 weeks on) whose long-run on-share is `on_fraction`."""
    sched = np.zeros(n)
    t = int(rng.integers(0, 4))
    mean_on = 4.0
    mean_off = mean_on * (1.0 - on_fraction) / max(on_fraction, 1e-6)
    while t < n:
        on = int(rng.integers(2, 7))
        sched[t : t + on] = 1.0
        t += on
        if on_fraction < 1.0:
            t += max(1, int(round(rng.exponential(mean_off)))) if mean_off > 0 else 0
    return sched


# --------------------------------------------------------------------------- the process


class _Process:
    """The true data-generating process of one synthetic tenant (window + pre-period)."""

    def __init__(self, spec: SyntheticSpec, channels: list[str], controls: list[str]):
        self.spec = spec
        self.channels = channels
        self.control_names = controls
        rng = np.random.default_rng(spec.seed)
        g_n, t_n, b_n = spec.segments, spec.weeks, spec.burn_in_weeks
        w_n = b_n + t_n
        c_n = len(channels)
        self.t_n, self.b_n = t_n, b_n

        # segments: populations and attributes
        pop = np.exp(rng.normal(np.log(400_000), 0.7, g_n)).round(-2)
        pop = np.maximum(pop, 20_000.0)
        self.population = pop
        self.size = pop / pop.mean()
        self.segment_names = [f"{REGIONS[i % len(REGIONS)]}-{i + 1:02d}" for i in range(g_n)]
        self.income = rng.choice(INCOME_TIERS, size=g_n, p=[0.3, 0.45, 0.25])
        self.urban = rng.choice(URBANICITY, size=g_n, p=[0.4, 0.4, 0.2])

        # calendar
        all_weeks = _week_starts(spec.start - timedelta(weeks=b_n), w_n)
        self.weeks = all_weeks[b_n:]
        doy = np.array([d.timetuple().tm_yday for d in all_weeks]) / 365.25
        phase1, phase2 = rng.uniform(0, 2 * np.pi, 2)
        season = 0.8 * np.sin(2 * np.pi * doy + phase1) + 0.35 * np.sin(4 * np.pi * doy + phase2)
        season = season / np.abs(season).max()
        seg_amp = spec.seasonality * np.exp(rng.normal(0, 0.25, g_n))
        self.season = seg_amp[:, None] * season[None, :]  # (G, W)
        tt = (np.arange(w_n) - b_n) / t_n
        curvature = rng.uniform(0.8, 1.3)
        seg_growth = spec.trend * np.exp(rng.normal(0, 0.3, g_n))
        trend_shape = np.sign(tt) * np.abs(tt) ** curvature
        self.trend = np.maximum(1.0 + seg_growth[:, None] * trend_shape[None, :], 0.2)

        # controls (G, W, K) and their multiplicative effects
        ctrl = np.zeros((g_n, w_n, len(controls)))
        mult = np.ones((g_n, w_n))
        holiday = _holiday_weeks(all_weeks)
        for k, name in enumerate(controls):
            cs = spec.controls[name]
            if cs.kind == "price":
                national = 1.0 + cs.volatility * _ar1(rng, w_n, 0.85)
                local = cs.volatility * 0.4 * rng.standard_normal((g_n, w_n))
                values = np.round(national[None, :] + local, 4)
                mult *= np.maximum(1.0 + cs.effect * (values - 1.0), 0.05)
            elif cs.kind == "holiday":
                values = np.broadcast_to(holiday, (g_n, w_n)).copy()
                mult *= 1.0 + cs.effect * values
            else:  # promo: national promo weeks, most segments take part
                weeks_on = rng.random(w_n) < 0.1
                takes_part = rng.random((g_n, w_n)) < 0.85
                values = (weeks_on[None, :] & takes_part).astype(float)
                mult *= 1.0 + cs.effect * values
            ctrl[:, :, k] = values
        self.controls = ctrl
        self.baseline = (spec.base_per_capita * self.population[:, None] * self.trend
                         * (1.0 + self.season) * mult)

        # spend (G, W, C)
        common = _ar1(rng, w_n + 2 * spec.timing_spread_weeks, 0.9)
        rho = spec.spend_correlation
        offsets = rng.integers(-spec.timing_spread_weeks, spec.timing_spread_weeks + 1, g_n)
        spend = np.zeros((g_n, w_n, c_n))
        for c, name in enumerate(channels):
            ch = spec.channels[name]
            own = _ar1(rng, w_n + 2 * spec.timing_spread_weeks, 0.8)
            level = np.exp(0.35 * (np.sqrt(rho) * common + np.sqrt(1 - rho) * own))
            doy_ext = np.concatenate([doy, doy[-1:] + np.arange(1, 2 * spec.timing_spread_weeks + 1)
                                      / 52.18])
            seasonal_budget = 1.0 + 0.3 * rng.uniform(-1, 1) * np.sin(2 * np.pi * doy_ext + phase1)
            national = level * seasonal_budget
            if ch.pattern == "flighted":
                national = national * _flight_schedule(rng, national.size, ch.flight_on_fraction)
            intensity = np.exp(rng.normal(0.0, 0.3, g_n))
            for g in range(g_n):
                start = spec.timing_spread_weeks + offsets[g]
                series = national[start : start + w_n].copy()
                if ch.pattern == "flighted":
                    skip = _flight_schedule(rng, w_n, 0.85) if rng.random() < 0.3 else 1.0
                    series = series * skip
                weekly = np.exp(rng.normal(0.0, 0.15, w_n))
                spend[g, :, c] = self.size[g] * intensity[g] * series * weekly
            window_mean = spend[:, b_n:, c].sum(axis=0).mean()
            spend[:, :, c] *= ch.weekly_spend / max(window_mean, 1e-12)
        self.spend = np.round(spend, 2)

        # media response: per-capita adstock + Hill, segment multipliers, betas set by shares
        from mmm_evidence.model.transforms import geometric_adstock  # scipy.signal: slow import

        self.decay = np.array([spec.channels[c].decay for c in channels])
        self.shape = np.array([spec.channels[c].shape for c in channels])
        per_capita = self.spend / self.size[:, None, None]
        adstocked = np.stack([geometric_adstock(per_capita[:, :, c], self.decay[c])
                              for c in range(c_n)], axis=-1)
        ref = adstocked[:, b_n:, :].mean(axis=(0, 1))
        self.half_saturation = np.array(
            [spec.channels[c].half_saturation for c in channels]) * np.maximum(ref, 1e-9)
        mult_seg = np.exp(rng.normal(0.0, spec.segment_heterogeneity, (g_n, c_n)))
        mult_seg /= (mult_seg * self.size[:, None]).sum(axis=0) / self.size.sum()
        self.segment_multiplier = mult_seg
        self.beta = np.ones(c_n)
        unit = self._media(self.spend)  # (G, T, C) with beta = 1
        base_total = self.baseline[:, b_n:].sum()
        shares = np.array([spec.channels[c].share for c in channels])
        kpi_total = base_total / (1.0 - shares.sum())
        self.beta = shares * kpi_total / np.maximum(unit.sum(axis=(0, 1)), 1e-12)

        # noise
        expected = self.expected_kpi(self.spend)
        u = _ar1(rng, t_n, 0.25, (g_n,))
        kpi = expected + spec.noise * expected * u
        self.kpi = np.round(np.maximum(kpi, 0.01 * expected), 2)

    def _media(self, spend: np.ndarray) -> np.ndarray:
        """Media effect per (segment, window week, channel) for a full (G, W, C) spend array."""
        from mmm_evidence.model.transforms import geometric_adstock, hill

        per_capita = spend / self.size[:, None, None]
        out = np.empty((spend.shape[0], self.t_n, spend.shape[2]))
        for c in range(spend.shape[2]):
            a = geometric_adstock(per_capita[:, :, c], self.decay[c])[:, self.b_n:]
            out[:, :, c] = (self.beta[c] * self.segment_multiplier[:, c][:, None]
                            * self.size[:, None] * hill(a, self.half_saturation[c], self.shape[c]))
        return out

    def expected_kpi(self, spend: np.ndarray) -> np.ndarray:
        """Noise-free KPI (G, T) over the window for a full (G, W, C) spend array."""
        return self.baseline[:, self.b_n:] + self._media(spend).sum(axis=2)

    def scaled_spend(self, factor: float, channel: int | None = None) -> np.ndarray:
        """Spend with the window's weeks (not the pre-period) multiplied by `factor`."""
        out = self.spend.copy()
        sel = slice(None) if channel is None else channel
        out[:, self.b_n:, sel] *= factor
        return out

    def lift_tests(self) -> list[dict]:
        """The spec's lift tests: true lift through the process, and a noisy measurement."""
        rng = np.random.default_rng([self.spec.seed, 7])
        out = []
        for test in self.spec.lift_tests:
            c = self.channels.index(test.channel)
            g_n = len(self.segment_names)
            k = max(1, int(np.ceil(test.segments_fraction * g_n)))
            segs = np.sort(rng.choice(g_n, size=k, replace=False))
            spend = self.spend.copy()
            t0 = self.b_n + test.start_week
            t1 = t0 + test.weeks
            spend[np.ix_(segs, np.arange(t0, t1), [c])] *= 1.0 + test.spend_change
            measured_to = min(test.start_week + test.weeks + test.cooldown_weeks, self.t_n)
            diff = self.expected_kpi(spend) - self.expected_kpi(self.spend)
            true_lift = float(diff[:, test.start_week:measured_to].sum())
            se = test.se_fraction * abs(true_lift)
            out.append({
                "channel": test.channel,
                "start": self.weeks[test.start_week].isoformat(),
                "end": self.weeks[test.start_week + test.weeks - 1].isoformat(),
                "spend_change": test.spend_change,
                "lift": round(true_lift + se * rng.standard_normal(), 2),
                "lift_se": round(se, 2),
                "segments": ";".join(self.segment_names[g] for g in segs),
                "cooldown_weeks": test.cooldown_weeks,
                "true_lift": true_lift,
            })
        return out

    def truth(self) -> dict:
        expected = self.expected_kpi(self.spend)
        total = expected.sum()
        media = self._media(self.spend)
        window_spend = self.spend[:, self.b_n:, :]
        channels = {}
        for c, name in enumerate(self.channels):
            bumped = self.expected_kpi(self.scaled_spend(1.01, c)).sum()
            contribution = media[:, :, c].sum()
            spent = window_spend[:, :, c].sum()
            channels[name] = {
                "elasticity": (bumped - total) / total / 0.01,
                "contribution": contribution,
                "contribution_share": contribution / total,
                "spend": spent,
                "roi": contribution / spent if spent > 0 else None,
                "decay": self.decay[c],
                "half_saturation_per_capita": self.half_saturation[c],
                "shape": self.shape[c],
                "beta_per_size_unit": self.beta[c],
            }
        up = self.expected_kpi(self.scaled_spend(1.10)) - expected
        segments = {
            seg: {
                "uplift_10pct": up[g].sum(),
                "uplift_10pct_relative": up[g].sum() / expected[g].sum(),
                "media_multiplier": dict(zip(self.channels, self.segment_multiplier[g],
                                             strict=True)),
            }
            for g, seg in enumerate(self.segment_names)
        }
        return {
            "definition": TRUTH_DEFINITION,
            "total_expected_kpi": total,
            "media_share": media.sum() / total,
            "noise_fraction": self.spec.noise,
            "channels": channels,
            "segments": segments,
        }


# --------------------------------------------------------------------------- public API


def spec_hash(cfg: TenantConfig) -> str:
    """Hash of everything that determines a synthetic tenant's files."""
    blob = json.dumps(cfg.model_dump(mode="json", exclude={"path", "display_name",
                                                            "description"}), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def simulate_tenant(cfg: TenantConfig) -> SyntheticTenant:
    """Simulate a tenant from its synthetic spec: long frame, segment attributes and truth."""
    spec = cfg.data.synthetic
    if spec is None:
        raise ValueError(f"tenant {cfg.name!r} has no data.synthetic spec")
    proc = _Process(spec, list(cfg.channels), list(cfg.controls))
    g_n, t_n = spec.segments, spec.weeks
    frame = pd.DataFrame({
        "date": np.tile([d.isoformat() for d in proc.weeks], g_n),
        "segment": np.repeat(proc.segment_names, t_n),
        cfg.kpi: proc.kpi.reshape(-1),
    })
    window = proc.spend[:, proc.b_n:, :]
    for c, name in enumerate(cfg.channels):
        frame[f"spend_{name}"] = window[:, :, c].reshape(-1)
    for k, name in enumerate(cfg.controls):
        frame[name] = proc.controls[:, proc.b_n:, k].reshape(-1)
    attributes = pd.DataFrame({
        "segment": proc.segment_names,
        "population": proc.population.astype(int),
        "region": [s.split("-")[0] for s in proc.segment_names],
        "income_tier": proc.income,
        "urbanicity": proc.urban,
    })
    truth = {"tenant": cfg.name, "spec_sha256": spec_hash(cfg), **proc.truth()}
    lift = proc.lift_tests()
    lift_frame = None
    if lift:
        truth["lift_tests"] = lift
        lift_frame = pd.DataFrame(lift).drop(columns="true_lift")
    return SyntheticTenant(frame=frame, attributes=attributes, truth=_plain(truth),
                           lift_tests=lift_frame)


def simulate_panel(cfg: TenantConfig) -> Panel:
    """Simulate the tenant in memory, straight to a Panel (no files): segment size =
    population / mean population, truth attached — for benchmarks and tests."""
    sim = simulate_tenant(cfg)
    frame = sim.frame
    segments = tuple(dict.fromkeys(frame["segment"]))
    dates = pd.DatetimeIndex(pd.unique(frame["date"]))
    g, t = len(segments), len(dates)

    def grid(column: str) -> np.ndarray:
        return frame[column].to_numpy(dtype=float).reshape(g, t)

    spend = np.stack([grid(f"spend_{c}") for c in cfg.channels], axis=-1)
    controls = (np.stack([grid(c) for c in cfg.controls], axis=-1) if cfg.controls
                else np.zeros((g, t, 0)))
    population = sim.attributes["population"].to_numpy(dtype=float)
    return Panel(tenant=cfg.name, dates=dates, segments=segments,
                 channels=tuple(cfg.channels), control_names=tuple(cfg.controls),
                 kpi=grid(cfg.kpi), spend=spend, controls=controls,
                 size=population / population.mean(), kpi_name=cfg.kpi, truth=sim.truth)


def _plain(obj):
    """JSON-ready copy: numpy scalars to Python, floats rounded to 10 significant digits."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return float(f"{obj:.10g}")
    return obj


def synthetic_paths(cfg: TenantConfig, out_dir: str | Path) -> dict[str, Path]:
    out = Path(out_dir)
    paths = {"csv": out / f"{cfg.name}.csv", "segments_csv": out / "segments.csv",
             "truth": out / "truth.json"}
    if cfg.data.synthetic is not None and cfg.data.synthetic.lift_tests:
        paths["lift_tests"] = out / "lift_tests.csv"
    return paths


def write_synthetic_tenant(cfg: TenantConfig, out_dir: str | Path) -> list[Path]:
    """Write `<tenant>.csv`, `segments.csv` and `truth.json`; byte-identical for the same spec."""
    paths = synthetic_paths(cfg, out_dir)
    if _is_current(cfg, paths):
        return list(paths.values())
    sim = simulate_tenant(cfg)
    paths["csv"].parent.mkdir(parents=True, exist_ok=True)
    sim.frame.to_csv(paths["csv"], index=False, lineterminator="\n")
    sim.attributes.to_csv(paths["segments_csv"], index=False, lineterminator="\n")
    paths["truth"].write_text(json.dumps(sim.truth, indent=2, sort_keys=True) + "\n",
                              encoding="utf-8")
    if sim.lift_tests is not None:
        sim.lift_tests.to_csv(paths["lift_tests"], index=False, lineterminator="\n")
    return list(paths.values())


def _is_current(cfg: TenantConfig, paths: dict[str, Path]) -> bool:
    if not all(p.is_file() for p in paths.values()):
        return False
    try:
        stored = json.loads(paths["truth"].read_text(encoding="utf-8")).get("spec_sha256")
    except (OSError, ValueError):
        return False
    return stored == spec_hash(cfg)


def read_synthetic_tenant(cfg: TenantConfig, out_dir: str | Path) -> Panel:
    """The tenant's panel, read back through the CSV loader (generated first if needed)."""
    from mmm_evidence.data.loader import read_tenant_files

    write_synthetic_tenant(cfg, out_dir)
    paths = synthetic_paths(cfg, out_dir)
    panel = read_tenant_files(cfg, paths["csv"], segments_csv=paths["segments_csv"],
                              truth=paths["truth"])
    return attach_lift_tests(panel, paths.get("lift_tests"), cfg.calibrate_with_lift_tests)

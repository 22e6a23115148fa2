"""Feature importance three ways: a LightGBM surrogate explained with SHAP, MMM v2's own
additive decomposition, and — where the tenant has one — the ground truth; and how far their
channel rankings agree.

Rows are segment-weeks; the features are the MMM's own inputs (``surrogate_features``):

- ``channel``: the channel's adstocked per-capita spend, with the fitted MMM's decay and its
  steady-state start (the quantity MMM v2 feeds into the Hill curve); named by the channel;
- ``control``: each control column as in the data;
- ``calendar``: linear trend and Fourier yearly terms — MMM v2's baseline design without the
  intercept (``mmm_evidence.model.mmm.baseline_design``);
- ``segment``: the segment's size (``segment_size``), the MMM's per-capita scale.

The target is the per-capita KPI (KPI / segment size): on that scale MMM v2 is additive in its
channels — baseline_g(t) + Σ_c β_c · Hill(adstock_c) — so its exact SHAP values are known.

Importance per feature:

- ``mean_abs_shap``: LightGBM's SHAP values (``shap.TreeExplainer``, interventional, the
  background a seeded sample of the explained rows), mean |SHAP| over the rows with each row
  weighted by its segment size — so the unit is KPI per segment-week;
- ``mmm_mean_abs_shap``: the same for MMM v2, whose exact interventional SHAP value for a
  channel is its per-capita contribution minus that contribution's mean over the same
  background (``additive_shap_values``; the baseline is one more additive term);
- ``mmm_share``: the MMM's contribution share (the channel's contribution over total predicted
  KPI of the explained weeks);
- ``true_share``: the true contribution share (None without ground truth).

SHAP measures how far a feature moves a prediction away from the average row, not how much KPI
it brings: a channel spent at a steady level can have a large share and a small SHAP value,
since its level is indistinguishable from the baseline. So like is compared with like where
possible: LightGBM vs the MMM on SHAP (``lightgbm_mmm``, reported), the MMM vs the truth on
shares (``mmm_truth``, the ``importance_agreement`` gate), and LightGBM's SHAP vs the true
shares (``lightgbm_truth``, reported: how far a black-box explanation tells the true
contributions). Agreement is Spearman's ρ over the channels; None with fewer than
``min_channels`` channels (two ranks always correlate at ±1) or when one side ranks every
channel the same.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from mmm_evidence.data.panel import Panel
from mmm_evidence.model.mmm import baseline_design
from mmm_evidence.model.transforms import (
    delay_spend,
    geometric_adstock,
    hill,
    steady_state_start,
)

if TYPE_CHECKING:
    import pandas as pd

    from mmm_evidence.model.mmm import MMM

CHANNEL, CONTROL, CALENDAR, SEGMENT = "channel", "control", "calendar", "segment"
#: Feature kinds, in the order rows are listed.
KINDS = (CHANNEL, CONTROL, CALENDAR, SEGMENT)
SEGMENT_FEATURE = "segment_size"
#: The MMM's baseline (intercept, trend, seasonality, controls per segment) as one additive term.
BASELINE_TERM = "baseline"
#: Pairs whose rank agreement is reported: (name, measure A, measure B).
AGREEMENTS = (
    ("lightgbm_mmm", "mean_abs_shap", "mmm_mean_abs_shap"),
    ("mmm_truth", "mmm_share", "true_share"),
    ("lightgbm_truth", "mean_abs_shap", "true_share"),
)
#: Per importance measure, the rank column of the feature rows.
RANK_COLUMNS = {"mean_abs_shap": "shap_rank", "mmm_mean_abs_shap": "mmm_shap_rank",
                "mmm_share": "mmm_rank", "true_share": "true_rank"}
#: The columns of ``feature_importance.csv``, in order (``ImportanceResult.rows``).
CSV_COLUMNS = ("tenant", "feature", "kind", "mean_abs_shap", "shap_rank_all", "shap_rank",
               "mmm_mean_abs_shap", "mmm_shap_rank", "mmm_share", "mmm_rank", "true_share",
               "true_rank", "n_channels", "spearman_lightgbm_mmm", "spearman_mmm_truth",
               "spearman_lightgbm_truth")
MIN_CHANNELS = 3
#: Background rows of the interventional SHAP values (a seeded sample of the explained rows).
BACKGROUND_ROWS = 200
#: At most this many segment-weeks are explained (a seeded sample of them beyond; the
#: surrogate itself is fitted on every row): the interventional TreeSHAP cost grows with rows x
#: background rows. Measured on 200 geos x 130 weeks (26,000 rows): explaining 5,000 took
#: 1 / 4.8 of the time (15.6 s against 74.9 s), and changed the features' mean |SHAP| by
#: about 1 % (median over 20 samples, at most 2.4 % at p90) — less than the 200-row background
#: sample itself moves them.
MAX_EXPLAINED_ROWS = 5000
SURROGATE_ROUNDS = 200

__all__ = [
    "KINDS", "CHANNEL", "CONTROL", "CALENDAR", "SEGMENT", "SEGMENT_FEATURE", "BASELINE_TERM",
    "AGREEMENTS", "RANK_COLUMNS", "CSV_COLUMNS", "MIN_CHANNELS", "BACKGROUND_ROWS",
    "MAX_EXPLAINED_ROWS", "SURROGATE_ROUNDS", "SurrogateFeatures", "mmm_channel_curve",
    "surrogate_features", "adstocked_spend", "background_rows", "explained_rows",
    "additive_shap_values", "mmm_shap_values", "fit_surrogate", "import_shap",
    "tree_shap_values", "tree_inputs",
    "weighted_mean_abs", "importance_ranks", "spearman", "rank_agreement", "true_shares",
    "ImportanceResult", "explain_importance", "agreement_strength", "importance_summary",
]


# --------------------------------------------------------------------------- features


@dataclass(frozen=True)
class SurrogateFeatures:
    """The feature matrix of one tenant: rows are segment-weeks, segment-major."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    matrix: np.ndarray  # (G * T, F)
    target: np.ndarray  # (G * T,) per-capita KPI
    weights: np.ndarray  # (G * T,) the row's segment size (mean 1 over segments)
    n_segments: int
    n_weeks: int
    #: the segment-weeks of all rows (more than ``matrix`` has when it holds a sample)
    n_rows_total: int | None = None

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(n for n, k in zip(self.names, self.kinds, strict=True) if k == CHANNEL)

    def rows(self, index: np.ndarray) -> SurrogateFeatures:
        """The same features on the rows ``index`` only (a sample of the segment-weeks)."""
        index = np.asarray(index)
        return replace(self, matrix=self.matrix[index], target=self.target[index],
                       weights=self.weights[index],
                       n_rows_total=self.n_rows_total or int(self.matrix.shape[0]))

    def frame(self) -> pd.DataFrame:
        """The matrix as a DataFrame (columns = feature names)."""
        import pandas as pd

        return pd.DataFrame(self.matrix, columns=list(self.names))


def _check_model(model: MMM, panel: Panel) -> None:
    if not getattr(model, "_fitted", False):
        raise ValueError("the MMM must be fitted before its importance is explained")
    for key, fitted in (("channels", model.channels), ("segments", model.segments),
                        ("control_names", model.control_names)):
        if tuple(getattr(panel, key)) != tuple(fitted):
            raise ValueError(f"tenant {panel.tenant!r}: panel {key} {tuple(getattr(panel, key))}"
                             f" differ from the fitted model's {tuple(fitted)}")


def adstocked_spend(model: MMM, panel: Panel) -> np.ndarray:
    """(G, T, C) adstocked per-capita spend with the fitted delays and decays, as MMM v2
    computes it."""
    per_capita = np.asarray(panel.spend, float) / model.size[:, None, None]
    out = np.empty_like(per_capita)
    for c in range(per_capita.shape[2]):
        x = delay_spend(per_capita[:, :, c], int(model.delay[c]))
        out[:, :, c] = geometric_adstock(x, float(model.decay[c]), steady_state_start(x))
    return out


def surrogate_features(panel: Panel, model: MMM) -> SurrogateFeatures:
    """Adstocked spend (the fitted MMM's decays), controls, trend and Fourier terms (the MMM's
    baseline design) and segment size, per segment-week; target the per-capita KPI."""
    _check_model(model, panel)
    s = model.settings
    g_n, t_n = panel.n_segments, panel.n_weeks
    calendar = ["trend"] if s.trend else []
    for k in range(1, model.fourier_order + 1):  # the fit's own (none on < a year)
        calendar += [f"season_sin{k}", f"season_cos{k}"]
    names = [*panel.channels, *panel.control_names, *calendar, SEGMENT_FEATURE]
    kinds = ([CHANNEL] * len(panel.channels) + [CONTROL] * len(panel.control_names)
             + [CALENDAR] * len(calendar) + [SEGMENT])
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"tenant {panel.tenant!r}: feature name(s) {', '.join(duplicated)} "
                         f"used twice (a channel or control may not be called "
                         f"{', '.join(['trend', 'season_sin1', SEGMENT_FEATURE])} ...)")
    design = baseline_design(panel.dates, np.asarray(panel.controls, float), model.origin,
                             model.scale_weeks, model.fourier_order, s.trend)
    q = design.shape[2] - len(panel.control_names)  # intercept + calendar columns
    size = np.asarray(model.size, float)
    cols = [adstocked_spend(model, panel), design[:, :, q:], design[:, :, 1:q],
            np.broadcast_to(size[:, None, None], (g_n, t_n, 1))]
    matrix = np.concatenate(cols, axis=-1).reshape(g_n * t_n, -1)
    target = (np.asarray(panel.kpi, float) / size[:, None]).reshape(-1)
    return SurrogateFeatures(names=tuple(names), kinds=tuple(kinds),
                             matrix=np.ascontiguousarray(matrix), target=target,
                             weights=np.repeat(size, t_n), n_segments=g_n, n_weeks=t_n)


def _sample(n_rows: int, seed: int, size: int, stream: int) -> np.ndarray:
    if n_rows <= size:
        return np.arange(n_rows)
    rng = np.random.default_rng([int(seed), stream])
    return np.sort(rng.choice(n_rows, size=size, replace=False))


def background_rows(n_rows: int, seed: int, size: int = BACKGROUND_ROWS) -> np.ndarray:
    """Sorted indices of the SHAP background: a seeded sample of ``size`` rows (all if fewer)."""
    return _sample(n_rows, seed, size, 7)


def explained_rows(n_rows: int, seed: int, size: int = MAX_EXPLAINED_ROWS) -> np.ndarray:
    """Sorted indices of the explained rows: all, or a seeded sample of ``size`` beyond."""
    return _sample(n_rows, seed, size, 11)


# --------------------------------------------------------------------------- SHAP values


def additive_shap_values(terms: np.ndarray, background: np.ndarray | None = None
                         ) -> tuple[np.ndarray, float]:
    """Exact interventional SHAP values of an additive model f(x) = Σ_j terms[:, j].

    For an additive model the SHAP value of term j in a row is the term minus its mean over
    the background rows; they sum to f(row) − base, with base the mean of f over the
    background. ``terms`` is (N, J); ``background`` row indices (None = all rows).
    """
    terms = np.asarray(terms, float)
    ref = terms if background is None else terms[np.asarray(background)]
    means = ref.mean(axis=0)
    return terms - means[None, :], float(means.sum())


def mmm_shap_values(model: MMM, panel: Panel, background: np.ndarray | None = None,
                    rows: np.ndarray | None = None
                    ) -> tuple[np.ndarray, float, tuple[str, ...], np.ndarray]:
    """MMM v2's exact SHAP values on the per-capita scale, rows segment-major: (values (N, C+1),
    base value, term names = channels + ``baseline``, the per-capita terms (N, C+1)); with
    ``rows`` on those segment-weeks only (``background`` then indexes them)."""
    _check_model(model, panel)
    parts = model.contributions(panel)
    size = np.asarray(model.size, float)[:, None]
    names = (*model.channels, BASELINE_TERM)
    terms = np.stack([(parts[n] / size).reshape(-1) for n in names], axis=-1)
    if rows is not None:
        terms = terms[np.asarray(rows)]
    values, base = additive_shap_values(terms, background)
    return values, base, names, terms


def mmm_channel_curve(model: MMM, channel: str, adstock: np.ndarray) -> np.ndarray:
    """A channel's per-capita contribution β · Hill(adstock) at the given adstocked spend."""
    c = list(model.channels).index(channel)
    return float(model.beta[c]) * hill(adstock, float(model.half_saturation[c]),
                                       float(model.shape[c]))


#: ``tree_inputs`` keeps this many significant digits (float32 carries about 7.2)
TREE_DIGITS = 6


def tree_inputs(matrix: np.ndarray) -> np.ndarray:
    """``matrix`` rounded to ``TREE_DIGITS`` significant digits and then to float32 numbers, as
    the surrogate is fitted, explained and evaluated on. SHAP's tree explainer compares
    features with the trees' thresholds in float32: with a booster fitted on float64 features
    a threshold can fall between a value and its float32 rounding, and the explainer then
    follows another path than LightGBM (its additivity check failed on every row of a national
    tenant whose later weeks repeat earlier spend). Float32 numbers alone are not enough: two
    values one float32 step apart (such weeks' adstocked spend) get a threshold halfway
    between them, which float32 rounds onto one of them (the same tenant with other fitted
    decays failed again). Six significant digits put distinct values at least ten float32
    steps apart, so a threshold between them stays between them. Values that agree to six
    digits become one (a segment size of 1,234,567 and one of 1,234,571 too): the surrogate
    is a check of the MMM's ranking, not a model of such differences."""
    m = np.asarray(matrix, float)
    # below float32's smallest normal number the scale overflows: those go to float32 as is
    finite = np.isfinite(m) & (np.abs(m) >= np.finfo(np.float32).tiny)
    exponent = np.floor(np.log10(np.abs(np.where(finite, m, 1.0))))
    scale = 10.0 ** (TREE_DIGITS - 1 - exponent)
    rounded = np.where(finite, np.round(m * scale) / scale, m)
    return rounded.astype(np.float32).astype(float)


def fit_surrogate(features: SurrogateFeatures, seed: int, rounds: int = SURROGATE_ROUNDS,
                  params: Mapping[str, Any] | None = None) -> Any:
    """A LightGBM booster for the per-capita KPI on ``features`` (rounded by
    ``tree_inputs``; the baselines' deterministic settings: fixed seed, one thread)."""
    import lightgbm

    from mmm_evidence.evaluation.baselines import LIGHTGBM_PARAMS

    data = lightgbm.Dataset(tree_inputs(features.matrix), features.target,
                            feature_name=list(features.names),
                            free_raw_data=False, params={"verbosity": -1})
    settings = {**LIGHTGBM_PARAMS, **(params or {}), "seed": int(seed)}
    return lightgbm.train(settings, data, num_boost_round=int(rounds))


def import_shap() -> Any:
    """The ``shap`` module, imported without the warnings of its own imports: tqdm's
    "IProgress not found" (shap pulls in ``tqdm.auto``, which warns in a notebook without
    ipywidgets) and matplotlib's pending deprecations of shap's colour maps."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning,
                                module=r"shap\.")
        import shap
    return shap


def tree_shap_values(booster: Any, matrix: np.ndarray, background: np.ndarray
                     ) -> tuple[np.ndarray, float]:
    """Interventional TreeSHAP values (N, F) of ``booster`` and its base value, against the
    background rows ``matrix[background]`` (both rounded by ``tree_inputs``; shap's progress
    bar is swallowed)."""
    shap = import_shap()
    matrix = tree_inputs(matrix)
    explainer = shap.TreeExplainer(booster, data=matrix[np.asarray(background)],
                                   feature_perturbation="interventional")
    with contextlib.redirect_stderr(io.StringIO()):
        values = explainer.shap_values(matrix)
    return np.asarray(values, float), float(np.ravel(explainer.expected_value)[0])


# --------------------------------------------------------------------------- ranks, agreement


def weighted_mean_abs(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per column, Σ_rows weight · |value| / rows: mean |SHAP| in KPI units when the values are
    per capita and the weights the rows' segment sizes (mean 1)."""
    values = np.asarray(values, float)
    return (np.abs(values) * np.asarray(weights, float)[:, None]).sum(axis=0) / values.shape[0]


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def importance_ranks(values: Mapping[str, float | None]) -> dict[str, int | None]:
    """Rank 1 = most important; ties share the best rank (1, 2, 2, 4); None stays None."""
    known = {k: v for k, v in ((k, _finite(v)) for k, v in values.items()) if v is not None}
    return {k: (1 + sum(other > known[k] for other in known.values()) if k in known else None)
            for k in values}


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1, dtype=float)
    for value in np.unique(x):  # ties: the average of their ranks
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None when either side is
    constant or fewer than two values are given."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    if x.shape != y.shape:
        raise ValueError(f"spearman: {x.size} values against {y.size}")
    if x.size < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return None
    rx, ry = _average_ranks(x), _average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    rho = float((rx * ry).sum() / math.sqrt((rx**2).sum() * (ry**2).sum()))
    return max(-1.0, min(1.0, rho))


def rank_agreement(a: Mapping[str, float | None], b: Mapping[str, float | None],
                   min_channels: int = MIN_CHANNELS) -> float | None:
    """Spearman's ρ of two importance measures over the keys both know; None with fewer than
    ``min_channels`` such keys or when either side ranks them all the same."""
    keys = [k for k in a if k in b and _finite(a[k]) is not None and _finite(b[k]) is not None]
    if len(keys) < max(int(min_channels), 2):
        return None
    return spearman([_finite(a[k]) for k in keys], [_finite(b[k]) for k in keys])


def true_shares(panel: Panel) -> dict[str, float | None] | None:
    """The true contribution share per channel, or None for a tenant without ground truth."""
    truth = panel.truth or {}
    channels = truth.get("channels") if isinstance(truth, Mapping) else None
    if not channels:
        return None
    shares = {c: _finite((channels.get(c) or {}).get("contribution_share"))
              for c in panel.channels}
    return shares if any(v is not None for v in shares.values()) else None


# --------------------------------------------------------------------------- the result


@dataclass
class ImportanceResult:
    """Everything the importance notebook shows and glues for one tenant."""

    tenant: str
    features: SurrogateFeatures
    background: np.ndarray
    shap_values: np.ndarray  # LightGBM, per capita (N, F)
    shap_base: float
    mmm_terms: tuple[str, ...]  # channels + baseline
    mmm_shap_values: np.ndarray  # per capita (N, C + 1)
    mmm_base: float
    mmm_term_values: np.ndarray  # the MMM's additive terms per capita (N, C + 1)
    surrogate_prediction: np.ndarray  # per capita (N,)
    mmm_shares: dict[str, float]
    truth: dict[str, float | None] | None
    min_channels: int = MIN_CHANNELS
    surrogate_settings: dict = field(default_factory=dict)
    weeks: tuple[str, str] = ("", "")

    @property
    def channels(self) -> tuple[str, ...]:
        return self.features.channels

    @property
    def mmm_prediction(self) -> np.ndarray:
        """The MMM's per-capita prediction of each row (the sum of its terms)."""
        return self.mmm_term_values.sum(axis=1)

    def measures(self) -> dict[str, dict[str, float | None]]:
        """{measure: {feature: value}}: mean_abs_shap for every feature; mmm_mean_abs_shap,
        mmm_share and true_share for the channels (true_share None without truth)."""
        lgbm = weighted_mean_abs(self.shap_values, self.features.weights)
        mmm = weighted_mean_abs(self.mmm_shap_values, self.features.weights)
        mmm_by_term = dict(zip(self.mmm_terms, mmm, strict=True))
        truth = self.truth or {}
        return {
            "mean_abs_shap": {n: float(v) for n, v in zip(self.features.names, lgbm,
                                                          strict=True)},
            "mmm_mean_abs_shap": {c: float(mmm_by_term[c]) for c in self.channels},
            "mmm_share": {c: float(self.mmm_shares[c]) for c in self.channels},
            "true_share": {c: truth.get(c) for c in self.channels},
        }

    def agreement(self) -> dict:
        """Spearman's ρ over the channels for each pair of ``AGREEMENTS``, the top channel by
        each measure, the number of channels and whether the tenant has truth."""
        m = self.measures()
        channel_shap = {c: m["mean_abs_shap"][c] for c in self.channels}
        by_measure = {**m, "mean_abs_shap": channel_shap}
        out: dict[str, Any] = {
            name: rank_agreement(by_measure[a], by_measure[b], self.min_channels)
            for name, a, b in AGREEMENTS}
        top = {}
        for measure, values in by_measure.items():
            known = {k: v for k, v in values.items() if v is not None}
            top[measure] = max(known, key=lambda k: (known[k], k)) if known else None
        out.update({"method": "spearman", "n_channels": len(self.channels),
                    "min_channels": self.min_channels, "has_truth": self.truth is not None,
                    "top": top})
        return out

    def rows(self) -> list[dict]:
        """One dict per feature with the ``CSV_COLUMNS`` of ``feature_importance.csv`` (the
        tenant's agreement repeated on every row; channel-only columns None elsewhere)."""
        m = self.measures()
        on_channels = {measure: {c: m[measure][c] for c in self.channels}
                       for measure in RANK_COLUMNS}
        ranks = {col: importance_ranks(on_channels[measure])
                 for measure, col in RANK_COLUMNS.items()}
        all_ranks = importance_ranks(m["mean_abs_shap"])
        agreement = self.agreement()
        rows = []
        for name, kind in zip(self.features.names, self.features.kinds, strict=True):
            channel = kind == CHANNEL
            row: dict[str, Any] = {"tenant": self.tenant, "feature": name, "kind": kind,
                                   "mean_abs_shap": m["mean_abs_shap"][name],
                                   "shap_rank_all": all_ranks[name]}
            for measure, col in RANK_COLUMNS.items():
                if measure != "mean_abs_shap":
                    row[measure] = on_channels[measure][name] if channel else None
                row[col] = ranks[col][name] if channel else None
            row["n_channels"] = agreement["n_channels"]
            for pair, *_ in AGREEMENTS:
                row[f"spearman_{pair}"] = agreement[pair]
            rows.append({col: row[col] for col in CSV_COLUMNS})
        return rows

    def comparison_table(self) -> pd.DataFrame:
        """Per channel: each measure and its rank (1 = most important)."""
        import pandas as pd

        rows = [r for r in self.rows() if r["kind"] == CHANNEL]
        columns = {"mean_abs_shap": "LightGBM mean |SHAP|", "shap_rank": "rank",
                   "mmm_mean_abs_shap": "MMM mean |SHAP|", "mmm_shap_rank": "rank ",
                   "mmm_share": "MMM share", "mmm_rank": "rank  ",
                   "true_share": "true share", "true_rank": "rank   "}
        frame = pd.DataFrame(rows).set_index("feature")[list(columns)].rename(columns=columns)
        return frame.rename_axis("channel").sort_values("LightGBM mean |SHAP|", ascending=False)

    def feature_table(self) -> pd.DataFrame:
        """Every surrogate feature: kind, LightGBM mean |SHAP| and its rank over all features."""
        import pandas as pd

        frame = pd.DataFrame(self.rows()).set_index("feature")
        frame = frame[["kind", "mean_abs_shap", "shap_rank_all"]]
        return frame.sort_values("shap_rank_all").rename(columns={
            "mean_abs_shap": "LightGBM mean |SHAP|", "shap_rank_all": "rank"})

    def agreement_table(self) -> pd.DataFrame:
        """One row per compared pair: what is compared and Spearman's ρ."""
        import pandas as pd

        labels = {"lightgbm_mmm": ("LightGBM mean |SHAP|", "MMM mean |SHAP|", "reported"),
                  "mmm_truth": ("MMM contribution share", "true contribution share",
                                "gate importance_agreement"),
                  "lightgbm_truth": ("LightGBM mean |SHAP|", "true contribution share",
                                     "reported")}
        a = self.agreement()
        return pd.DataFrame([{"pair": name, "compares": labels[name][0],
                              "with": labels[name][1], "Spearman ρ": a[name],
                              "use": labels[name][2]} for name, *_ in AGREEMENTS]
                            ).set_index("pair")

    def fit_quality(self) -> dict[str, float]:
        """R² of the per-capita KPI over the explained rows: the surrogate's and the MMM's."""
        from mmm_evidence.evaluation.metrics import r2

        return {"surrogate_r2": r2(self.features.target, self.surrogate_prediction),
                "mmm_r2": r2(self.features.target, self.mmm_prediction)}

    def additivity_error(self) -> dict[str, float]:
        """Largest |Σ SHAP + base − prediction| of each model, relative to the mean prediction
        (per capita): both should be at floating-point level."""
        out = {}
        for name, values, base, pred in (
                ("surrogate", self.shap_values, self.shap_base, self.surrogate_prediction),
                ("mmm", self.mmm_shap_values, self.mmm_base, self.mmm_prediction)):
            scale = max(abs(float(np.mean(pred))), 1e-300)
            out[name] = float(np.max(np.abs(values.sum(axis=1) + base - pred)) / scale)
        return out

    def surrogate_summary(self) -> dict:
        """The surrogate's settings, fit and SHAP set-up (glued as ``surrogate``)."""
        return {**self.surrogate_settings, **self.fit_quality(),
                "additivity_error": self.additivity_error(),
                "rows": int(self.features.matrix.shape[0]),
                "rows_total": int(self.features.n_rows_total or self.features.matrix.shape[0]),
                "segments": self.features.n_segments, "weeks": self.features.n_weeks,
                "first_week": self.weeks[0], "last_week": self.weeks[1],
                "background_rows": int(len(self.background)),
                "features": list(self.features.names)}

    def surrogate_table(self) -> pd.DataFrame:
        """The explained rows, the SHAP background, both models' R² and additivity errors, as
        a one-column table."""
        import pandas as pd

        s = self.surrogate_summary()
        return pd.Series({
            "rows (segment-weeks)": (f"{s['rows']:,}" if s["rows"] == s["rows_total"] else
                                     f"{s['rows']:,} of {s['rows_total']:,} (a seeded sample; "
                                     f"the surrogate is fitted on all)"),
            "weeks": f"{s['first_week']} – {s['last_week']}",
            "SHAP background rows": f"{s['background_rows']:,}",
            "surrogate R² (per-capita KPI)": f"{s['surrogate_r2']:.3f}",
            "MMM R² (per-capita KPI)": f"{s['mmm_r2']:.3f}",
            "additivity error, surrogate": f"{s['additivity_error']['surrogate']:.1e}",
            "additivity error, MMM": f"{s['additivity_error']['mmm']:.1e}",
        }, name="value").to_frame()

    def summary(self) -> str:
        """The plain-language paragraph (``importance_summary`` of this result)."""
        return importance_summary(self.rows(), self.agreement())

    def scraps(self) -> dict:
        """The JSON-able values the notebook glues (names are the scrap names)."""
        return {"tenant": self.tenant, "importance": self.rows(),
                "agreement": self.agreement(), "surrogate": self.surrogate_summary(),
                "summary": self.summary()}


def explain_importance(panel: Panel, model: MMM, seed: int, *,
                       background_size: int = BACKGROUND_ROWS,
                       rounds: int = SURROGATE_ROUNDS,
                       min_channels: int = MIN_CHANNELS,
                       max_rows: int = MAX_EXPLAINED_ROWS) -> ImportanceResult:
    """Explain ``model`` (MMM v2, fitted) and a LightGBM surrogate fitted to the same features
    on ``panel``'s segment-weeks (normally the weeks the MMM was fitted on): every row, or a
    seeded sample of ``max_rows`` of them (the surrogate is fitted on every row)."""
    every = surrogate_features(panel, model)
    booster = fit_surrogate(every, seed, rounds)
    n_rows = every.matrix.shape[0]
    rows = explained_rows(n_rows, seed, max_rows)
    sampled = len(rows) < n_rows
    features = every.rows(rows) if sampled else every
    background = background_rows(features.matrix.shape[0], seed, background_size)
    shap_values, shap_base = tree_shap_values(booster, features.matrix, background)
    mmm_values, mmm_base, terms, mmm_terms = mmm_shap_values(
        model, panel, background, rows if sampled else None)
    from mmm_evidence.evaluation.baselines import LIGHTGBM_PARAMS

    return ImportanceResult(
        tenant=panel.tenant, features=features, background=background,
        shap_values=shap_values, shap_base=shap_base, mmm_terms=terms,
        mmm_shap_values=mmm_values, mmm_base=mmm_base, mmm_term_values=mmm_terms,
        surrogate_prediction=np.asarray(booster.predict(tree_inputs(features.matrix),
                                                        num_threads=1), float),
        mmm_shares=model.contribution_shares(panel), truth=true_shares(panel),
        min_channels=int(min_channels),
        surrogate_settings={"model": "lightgbm", "target": "KPI per capita",
                            "rounds": int(rounds), "params": {**LIGHTGBM_PARAMS,
                                                              "seed": int(seed)},
                            "explainer": "shap.TreeExplainer",
                            "feature_perturbation": "interventional"},
        weeks=(panel.dates[0].date().isoformat(), panel.dates[-1].date().isoformat()))


# --------------------------------------------------------------------------- plain language


def agreement_strength(value: float | None) -> str:
    """Plain words for a rank correlation: strong (ρ ≥ 0.7), moderate (≥ 0.4), weak (≥ 0)
    agreement, disagreement (< 0), or "not computable" (None)."""
    value = _finite(value)
    if value is None:
        return "not computable"
    return ("strong agreement" if value >= 0.7 else "moderate agreement" if value >= 0.4
            else "weak agreement" if value >= 0 else "disagreement")


def _rho(value: float | None) -> str:
    return f"ρ = {value:.2f} ({agreement_strength(value)})"


def _largest_rank_gap(rows: Sequence[Mapping], a: str, b: str) -> tuple[str, int, int] | None:
    """The channel whose ranks by columns a and b differ most (None if none differ)."""
    gaps = [(abs(r[a] - r[b]), r["feature"], r[a], r[b]) for r in rows
            if r.get(a) is not None and r.get(b) is not None]
    if not gaps:
        return None
    gap, feature, ra, rb = max(gaps, key=lambda g: (g[0], -g[2], g[1]))
    return (feature, ra, rb) if gap > 0 else None


def importance_summary(rows: Sequence[Mapping], agreement: Mapping[str, Any]) -> str:
    """A plain-language paragraph from the numbers: whether LightGBM, the MMM and the truth
    agree on the channels, how strongly, and where they disagree most."""
    channels = [r for r in rows if r.get("kind") == CHANNEL]
    top = agreement.get("top") or {}
    n = int(agreement.get("n_channels", len(channels)))
    few = n < int(agreement.get("min_channels", MIN_CHANNELS))
    lgbm_top, mmm_top = top.get("mean_abs_shap"), top.get("mmm_mean_abs_shap")
    text = []
    if lgbm_top == mmm_top:
        text.append(f"LightGBM and the MMM agree on the channel that moves the KPI most: "
                    f"{lgbm_top}.")
    else:
        text.append(f"LightGBM and the MMM disagree on the channel that moves the KPI most: "
                    f"LightGBM puts {lgbm_top} first, the MMM {mmm_top}.")
    if few:
        text.append(f"With {n} channel(s) a rank correlation says nothing, so none is "
                    f"computed.")
    elif agreement.get("lightgbm_mmm") is None:
        text.append("Their SHAP rankings cannot be correlated: one of them ranks every "
                    "channel alike.")
    else:
        text.append(f"Over the {n} channels their SHAP rankings correlate at "
                    f"{_rho(agreement['lightgbm_mmm'])}.")
    if not agreement.get("has_truth"):
        text.append("This tenant has no ground truth, so neither explanation can be checked "
                    "against the true contributions.")
        return " ".join(text)
    true_top, share_top = top.get("true_share"), top.get("mmm_share")
    first = (f"names the true largest channel, {true_top}, first" if true_top == share_top
             else f"puts {share_top} first where the truth has {true_top}")
    if few or agreement.get("mmm_truth") is None:
        text.append(f"Against the truth, the MMM's contribution share {first}.")
    else:
        text.append(f"Against the truth, the MMM's contribution shares correlate with the "
                    f"true shares at {_rho(agreement['mmm_truth'])} and the MMM {first}.")
    gap = _largest_rank_gap(channels, "mmm_rank", "true_rank")
    if gap:
        text.append(f"The largest disagreement is {gap[0]}: rank {gap[1]} by the MMM's share, "
                    f"{gap[2]} in truth.")
    if not few and agreement.get("lightgbm_truth") is not None:
        text.append(f"LightGBM's SHAP ranking against the true shares: "
                    f"{_rho(agreement['lightgbm_truth'])}.")
    text.append("SHAP measures how far a channel moves the KPI from one week to the next, not "
                "how much it contributes: a steadily spent channel can rank low by SHAP and "
                "high by share.")
    return " ".join(text)

"""The PyMC-Marketing example (known truth): the truth computation, and MMM v2 recovering it.

The data live beside the repository in ``<repo>/../shared/external/pymc-marketing/``; without
that folder these tests skip (they never fail for a missing checkout of the shared data).

Measured (2-core machine, MMM v2 defaults — each decay the median of its profile posterior —,
seed 0; every start reaches the same optimum, so the model seed does not matter), relative
errors estimate / truth - 1:

    fit on the CSV                  x1 elasticity +2.9 %, x2 elasticity -5.6 %,
                                    x1 share -23.9 %, x2 share +2.0 %; R^2 0.9495
    400 noise replicates            x1 el +5.0 % (sd 5.2 %);  x2 el +10.3 % (sd 21.7 %);
    (load_pymc_example(noise_seed=  x1 share -7.7 % (sd 14.8 %); x2 share +0.2 % (sd 4.8 %)
    0..399): same spend, fresh      95th pct of |error|: 0.138 / 0.505 / 0.284 / 0.102
    N(0, 250) noise; mean (sd))     the project's elasticity gate (median <= 0.25) passes 92 %
                                    (with the optimum decays: x2 el +12.2 % (sd 25.1 %), 95th
                                    pct 0.137 / 0.547 / 0.317 / 0.101, gate 88 %)

The peer's Bayesian fit (README: elasticity +0.1 % / +2.6 %, shares +1.3 % / +3.7 %) uses the
true functional form (logistic saturation, finite adstock). MMM v2 uses Hill saturation and a
steady-state adstock, which costs it in two places the data identify weakly:

- x1 is always on (its true adstock never falls below 0.056), so the level of its response
  curve near zero trades off against the intercept: the contribution share of x1 is poorly
  identified (a concave-only Hill gives +19 %, the free Hill -26 %), while its marginal effect,
  the elasticity, is well identified;
- x2 is either off (80 % of weeks) or near 0.8-1.0, so its total contribution (the share) is
  well identified but the local slope at its spend level (the elasticity) is not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmm_evidence.config import ModelSettings
from mmm_evidence.data.external import (
    PYMC_EXAMPLE_PROCESS,
    geometric_adstock_lmax,
    load_pymc_example,
    logistic_saturation,
    pymc_example_components,
    pymc_example_tenant,
    pymc_example_truth,
)
from mmm_evidence.data.panel import Panel
from mmm_evidence.data.schema import DataError
from mmm_evidence.evaluation.metrics import r2
from mmm_evidence.model.mmm import MMM

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
EXAMPLE_DIR = SHARED / "external" / "pymc-marketing"
CSV = EXAMPLE_DIR / "mmm_example.csv"
GROUND_TRUTH_CSV = EXAMPLE_DIR / "mmm_example_ground_truth.csv"

# Per-channel tolerance on |estimate / truth - 1| for one fit: the 95th percentile of that
# error over the 400 replicates of the known process above, rounded up to two decimals. A
# correctly working MMM v2 misses one of these on only ~5 % of noise draws; they are loose
# exactly where the data identify a quantity weakly (x2 elasticity, x1 share) and tight where
# they identify it well (x1 elasticity, x2 share). A model fitted on shuffled x1 spend misses
# all four (x1 elasticity -85 %, x1 share -89 %, x2 elasticity +92 %, x2 share +24 %); one
# without carryover misses the x1 elasticity by -43 %, one without seasonality the x2 share
# by +30 %.
TOLERANCE = {
    ("elasticity", "x1"): 0.14,
    ("elasticity", "x2"): 0.51,
    ("contribution_share", "x1"): 0.29,
    ("contribution_share", "x2"): 0.11,
}

# Over 30 noise replicates the MEDIAN |error| is a far more stable statistic than one fit.
# Its distribution, from the 13 disjoint blocks of 30 of the 400 replicates: mean 0.056 /
# 0.159 / 0.130 / 0.029, sd 0.009 / 0.026 / 0.027 / 0.006 (x1 el / x2 el / x1 share / x2
# share); the blocks ranged 0.047-0.081 / 0.128-0.199 / 0.085-0.163 / 0.018-0.036, seeds
# 0-29 (used here) being the worst block for the x1 elasticity. Bounds = mean + 4 sd, rounded
# up to two decimals, so a working model passes whichever seeds are used, and a regression
# that makes the typical error ~1.7x larger fails.
REPLICATES = 30
MEDIAN_BOUND = {
    ("elasticity", "x1"): 0.10,
    ("elasticity", "x2"): 0.27,
    ("contribution_share", "x1"): 0.24,
    ("contribution_share", "x2"): 0.06,
}


@pytest.fixture(scope="module")
def example_csv() -> Path:
    if not CSV.is_file():
        pytest.skip(f"external reference data not found: {CSV.resolve()} (the shared folder "
                    f"is expected beside the repository, at <repo>/../shared)")
    return CSV


@pytest.fixture(scope="module")
def truth(example_csv: Path) -> dict:
    return pymc_example_truth(example_csv)


@pytest.fixture(scope="module")
def panel(example_csv: Path) -> Panel:
    return load_pymc_example(SHARED)


def _fit(panel: Panel, settings: ModelSettings | None = None) -> MMM:
    return MMM(settings or ModelSettings(), seed=0).fit(panel)


def _errors(model: MMM, panel: Panel) -> dict[tuple[str, str], float]:
    """Relative error estimate / truth - 1 of each channel's elasticity and share."""
    truth = panel.truth["channels"]
    est = {"elasticity": model.elasticities(panel),
           "contribution_share": model.contribution_shares(panel)}
    return {(q, c): est[q][c] / truth[c][q] - 1.0 for q, c in TOLERANCE}


def _misses(errors: dict[tuple[str, str], float], bounds: dict) -> list[str]:
    return [f"{q} {c}: |{errors[(q, c)]:+.3f}| > {bounds[(q, c)]}"
            for q, c in bounds if abs(errors[(q, c)]) > bounds[(q, c)]]


# --------------------------------------------------------------------------- the truth


def test_truth_reproduces_the_readme_figures(truth):
    """The README's summary table, to the precision it prints."""
    x1, x2 = truth["channels"]["x1"], truth["channels"]["x2"]
    assert x1["elasticity"] == pytest.approx(0.2070, abs=5e-5)
    assert x2["elasticity"] == pytest.approx(0.04015, abs=5e-6)
    assert x1["contribution_share"] == pytest.approx(0.2905, abs=5e-5)
    assert x2["contribution_share"] == pytest.approx(0.0697, abs=5e-5)
    assert x1["contribution"] == pytest.approx(274_848.30, abs=0.005)
    assert x2["contribution"] == pytest.approx(65_905.98, abs=0.005)
    assert x1["roi"] == pytest.approx(4_967.83, abs=0.005)
    assert x2["roi"] == pytest.approx(2_274.88, abs=0.005)
    assert x1["spend"] == pytest.approx(55.3256, abs=5e-5)
    assert x2["spend"] == pytest.approx(28.9711, abs=5e-5)
    assert truth["total_kpi"] == pytest.approx(946_005.62, abs=0.005)
    assert truth["baseline_total"] == pytest.approx(599_293.49, abs=0.005)
    assert truth["source"] and truth["noise_sd"] == 250.0


def test_truth_reproduces_the_ground_truth_csv(example_csv):
    if not GROUND_TRUTH_CSV.is_file():
        pytest.skip(f"{GROUND_TRUTH_CSV.resolve()} not found")
    expected = pd.read_csv(GROUND_TRUTH_CSV)
    got = pymc_example_components(example_csv)
    assert len(got) == len(expected) == 179
    assert list(got["date_week"]) == list(expected["date_week"])
    for column in expected.columns.drop("date_week"):
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-6, atol=1e-6,
                                   err_msg=column)


def test_the_process_regenerates_the_csv(example_csv):
    """The documented process (seeded RNG, draw order, constants) gives the CSV itself, so the
    constants in src are the ones the data were made with, not only the derived CSV's."""
    data = pd.read_csv(example_csv)
    p = PYMC_EXAMPLE_PROCESS
    n = len(data)
    rng = np.random.default_rng(p.rng_seed)
    u1, u2 = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    eps = rng.normal(0, p.noise_sd, n)
    x1 = np.where(u1 > 0.9, u1, u1 / 2)
    x2 = np.where(u2 > 0.8, u2, 0.0)
    np.testing.assert_allclose(data["x1"], x1, rtol=0, atol=1e-12)
    np.testing.assert_allclose(data["x2"], x2, rtol=0, atol=1e-12)
    media = sum(ch.beta * logistic_saturation(geometric_adstock_lmax(x, ch.alpha, p.l_max),
                                              ch.lam)
                for x, ch in ((x1, p.channels["x1"]), (x2, p.channels["x2"])))
    y0 = (p.intercept + p.trend(n) + p.seasonality(data["dayofyear"].to_numpy())
          + sum(effect * data[event].to_numpy() for event, effect in p.event_effects)
          + media + eps)
    np.testing.assert_allclose(data["y"], p.scale * y0, rtol=1e-12)


def test_adstock_is_normalised_and_starts_at_zero():
    out = geometric_adstock_lmax(np.array([1.0, 0.0, 0.0, 1.0, 1.0]), 0.5, 3)
    w = np.array([1.0, 0.5, 0.25]) / 1.75
    np.testing.assert_allclose(out, [w[0], w[1], w[2], w[0], w[0] + w[1]])
    assert geometric_adstock_lmax(np.ones(20), 0.4, 8)[-1] == pytest.approx(1.0)
    assert logistic_saturation(np.array([0.0]), 4.0)[0] == 0.0


def test_loaded_panel_is_the_national_example_with_truth(panel, truth):
    assert panel.tenant == "pymc_example" and panel.segments == ("national",)
    assert panel.channels == ("x1", "x2") and panel.control_names == ("event_1", "event_2")
    assert panel.n_weeks == 179 and (panel.dates.day_of_week == 0).all()  # Mondays
    assert panel.dates[0] == pd.Timestamp("2018-04-02")
    assert panel.kpi.sum() == pytest.approx(truth["total_kpi"], rel=1e-12)
    assert panel.controls[0, :, 0].sum() == 1 and panel.controls[0, :, 1].sum() == 1
    assert panel.truth == truth


def test_noise_replicate_keeps_spend_and_recomputes_truth(panel):
    replicate = load_pymc_example(SHARED, noise_seed=3)
    np.testing.assert_array_equal(replicate.spend, panel.spend)
    assert not np.allclose(replicate.kpi, panel.kpi)
    total = replicate.kpi.sum()
    assert replicate.truth["total_kpi"] == pytest.approx(total)
    for c in panel.channels:
        contribution = panel.truth["channels"][c]["contribution"]
        assert replicate.truth["channels"][c]["contribution"] == contribution
        assert replicate.truth["channels"][c]["contribution_share"] == pytest.approx(
            contribution / total)
    again = load_pymc_example(SHARED, noise_seed=3)
    np.testing.assert_array_equal(again.kpi, replicate.kpi)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(DataError, match="mmm_example.csv"):
        load_pymc_example(tmp_path)
    with pytest.raises(DataError, match="nowhere.csv"):
        pymc_example_truth(tmp_path / "nowhere.csv")


def test_missing_columns_are_named(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("date_week,y,x1\n2018-04-02,1.0,0.5\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.csv.*x2"):
        pymc_example_truth(bad)


def test_tenant_maps_the_columns(tmp_path):
    tenant = pymc_example_tenant(tmp_path / "x.csv")
    assert tenant.channels == ["x1", "x2"] and tenant.controls == ["event_1", "event_2"]
    assert tenant.data.source.columns["revenue"] == "y"
    assert tenant.data.source.columns["date"] == "date_week"


# --------------------------------------------------------------------------- recovery


def test_mmm_recovers_the_example(panel):
    model = _fit(panel)
    errors = _errors(model, panel)
    assert not _misses(errors, TOLERANCE), _misses(errors, TOLERANCE)
    # the project's elasticity gate (median relative error over channels with share >= 2 %)
    assert np.median([abs(errors[("elasticity", c)]) for c in panel.channels]) <= 0.25
    # fit: the noise-free truth itself scores R^2 0.950 (noise sd 250 on sd(y) 1,084); a
    # model that fits the signal comes within 0.01 of it (we measure 0.9496).
    expected = pymc_example_components(CSV)["expected_y"].to_numpy()
    truth_r2 = r2(panel.total_kpi(), expected)
    assert r2(panel.total_kpi(), model.predict(panel).sum(axis=0)) >= truth_r2 - 0.01


def _shuffled(panel: Panel, channel: int) -> Panel:
    spend = panel.spend.copy()
    spend[0, :, channel] = np.random.default_rng(0).permutation(spend[0, :, channel])
    return panel.with_spend(spend)


@pytest.mark.parametrize("broken, must_miss", [
    ("shuffled_x1", ("elasticity", "x1")),
    ("shuffled_x2", ("contribution_share", "x2")),
    ("swapped_channels", ("elasticity", "x1")),
    ("no_carryover", ("elasticity", "x1")),
    ("no_seasonality", ("contribution_share", "x2")),
])
def test_a_broken_model_misses_the_tolerance(panel, broken, must_miss):
    """The criterion can fail: wrong spend, or a model without carryover or seasonality,
    does not meet it."""
    settings = None
    if broken == "shuffled_x1":
        data = _shuffled(panel, 0)
    elif broken == "shuffled_x2":
        data = _shuffled(panel, 1)
    elif broken == "swapped_channels":
        data = panel.with_spend(panel.spend[:, :, ::-1])
    elif broken == "no_carryover":
        data, settings = panel, ModelSettings(max_decay=0.01)
    else:
        data, settings = panel, ModelSettings(fourier_order=0)
    errors = _errors(_fit(data, settings), data)
    assert abs(errors[must_miss]) > TOLERANCE[must_miss], errors


def test_recovery_over_noise_replicates(panel):
    """The estimator, not one draw: median |error| over 30 replicates of the known process."""
    errors = []
    for seed in range(REPLICATES):
        replicate = load_pymc_example(SHARED, noise_seed=seed)
        errors.append(_errors(_fit(replicate), replicate))
    medians = {key: float(np.median([abs(e[key]) for e in errors])) for key in MEDIAN_BOUND}
    assert not _misses(medians, MEDIAN_BOUND), medians

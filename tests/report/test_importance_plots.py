"""The importance notebook's figures render from an ImportanceResult (shap's beeswarm and bar,
dependence plots with the MMM's curve, the comparison)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mmm_evidence.config import ModelSettings, TenantConfig  # noqa: E402
from mmm_evidence.data.synthetic import simulate_panel  # noqa: E402
from mmm_evidence.evaluation.importance import explain_importance  # noqa: E402
from mmm_evidence.model.mmm import MMM  # noqa: E402
from mmm_evidence.report import importance_plots as plots  # noqa: E402
from tests.evaluation.test_importance import DOMINANT  # noqa: E402


@pytest.fixture(scope="module")
def fitted():
    panel = simulate_panel(TenantConfig.model_validate(DOMINANT))
    model = MMM(ModelSettings(n_starts=1), seed=3).fit(panel)
    return model, explain_importance(panel, model, 3, background_size=40, rounds=20)


def test_explanations_are_in_kpi_units(fitted) -> None:
    _, result = fitted
    lgbm = plots.shap_explanation(result, "lightgbm")
    assert lgbm.values.shape == result.features.matrix.shape
    rows = {r["feature"]: r for r in result.rows()}
    assert np.abs(lgbm.values).mean(axis=0)[0] == pytest.approx(rows["tv"]["mean_abs_shap"])
    mmm = plots.shap_explanation(result, "mmm")
    assert list(mmm.feature_names) == ["tv", "search", "social", "baseline"]
    assert np.abs(mmm.values).mean(axis=0)[0] == pytest.approx(rows["tv"]["mmm_mean_abs_shap"])
    with pytest.raises(ValueError, match="'lightgbm' or 'mmm'"):
        plots.shap_explanation(result, "xgboost")


def test_every_figure_renders(fitted) -> None:
    import matplotlib.pyplot as plt

    model, result = fitted
    figures = [plots.shap_beeswarm(result, "lightgbm"), plots.shap_beeswarm(result, "mmm"),
               plots.shap_bar(result), plots.dependence_plots(result, model),
               plots.importance_comparison(result)]
    for fig in figures:
        assert fig.axes and fig.get_size_inches()[1] > 1
    dependence = figures[3]
    assert [ax.get_title(loc="left") for ax in dependence.axes[:3]] == ["tv", "search", "social"]
    assert len(dependence.axes[0].lines) >= 1  # the MMM's curve
    comparison = figures[4].axes[0]
    assert len(comparison.patches) == 3 * 4  # 3 channels x 4 measures
    assert [t.get_text() for t in comparison.get_yticklabels()][0] == "tv"
    plt.close("all")

"""Smoke run of notebooks/validation.ipynb in a real kernel on a tiny tenant; scraps read back."""

import math
import textwrap

import pytest

from mmm_evidence.pipeline.collect import extra_scraps
from tests.notebook_runs import execute_notebook
from tests.paths import NOTEBOOKS

pytestmark = pytest.mark.slow


def write_tiny_experiment(root):
    (root / "tenants").mkdir(parents=True)
    (root / "exp.yaml").write_text(textwrap.dedent(f"""\
        experiment: tiny
        seed: 11
        output_dir: out
        notebooks_dir: {NOTEBOOKS}
        tenants_dir: tenants
        tenants: [tiny_shop]
        notebooks: [validation]
        evaluation: {{holdout_weeks: 13}}
        model: {{n_starts: 2}}
        """))
    (root / "tenants" / "tiny_shop.yaml").write_text(textwrap.dedent("""\
        name: tiny_shop
        display_name: Tiny Shop
        channels: [tv, search]
        controls: [holiday]
        segment_size: population
        data:
          synthetic:
            seed: 5
            weeks: 78
            segments: 2
            noise: 0.05
            channels:
              tv: {pattern: flighted, weekly_spend: 5000, decay: 0.5, share: 0.12}
              search: {pattern: always_on, weekly_spend: 3000, decay: 0.1, share: 0.08}
            controls:
              holiday: {kind: holiday, effect: 0.2}
        """))
    return root / "exp.yaml"


def test_validation_notebook_runs_and_glues_its_scraps(tmp_path):
    import scrapbook

    from mmm_evidence.pipeline.kernel import ensure_kernel

    ensure_kernel("mmm-evidence")
    params = write_tiny_experiment(tmp_path)
    out = execute_notebook("validation", params, "tiny_shop", tmp_path)
    scraps = {name: s.data for name, s in scrapbook.read_notebook(str(out)).scraps.items()}
    # every scrap it glues is one its artifact reads (else: extra_scraps)
    assert extra_scraps("validation", scraps) == {}
    assert scraps["tenant"] == "tiny_shop"
    assert scraps["data_summary"]["weeks"] == 78
    assert scraps["data_summary"]["holdout_weeks"] == 13
    assert scraps["data_summary"]["findings"] == []  # nothing in its data limits the fit
    assert set(scraps["elasticities"]) == {"tv", "search"}
    assert set(scraps["truth"]["elasticity"]) == {"tv", "search"}
    # a synthetic tenant's truth carries its media response: the error floor is glued too
    assert set(scraps["oracle_elasticities"]) == {"tv", "search"}
    for split in ("holdout", "in_sample"):
        assert {"r2", "mape", "nrmse", "rmse"} <= set(scraps["metrics"][split])
        assert all(math.isfinite(v) for v in scraps["metrics"][split].values())
    assert scraps["metrics"]["in_sample"]["r2"] > 0.5
    assert len(scraps["metrics"]["cv"]["folds"]) >= 1  # 78 weeks: folds with >= 52 train weeks
    assert scraps["metrics"]["holdout"]["rmse_to_noise"] > 0
    # the notebook read the data the pipeline writes, under output_dir/data/<tenant>
    assert (tmp_path / "out" / "data" / "tiny_shop" / "truth.json").is_file()
    # plots were rendered as images
    text = out.read_text()
    assert text.count('"image/png"') >= 5
    assert "No findings: every channel has spend in the training weeks" in text

"""feature_importance.csv (columns, types, deterministic bytes, reading it back), its gate
``importance_agreement`` and the wiring into the report and write_run_artifacts (no kernels;
the fake run of test_artifacts)."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import pytest

from mmm_evidence.config import ConfigError, GateSettings, ImportanceGate, load_experiment
from mmm_evidence.evaluation.importance import CSV_COLUMNS
from mmm_evidence.evidence import write_run_artifacts
from mmm_evidence.pipeline.artifacts import build_validation_report
from mmm_evidence.pipeline.collect import IMPORTANCE_NOTEBOOK, IMPORTANCE_SCRAPS
from mmm_evidence.pipeline.feature_importance import (
    FEATURE_IMPORTANCE_FILE,
    FLOAT_COLUMNS,
    INT_COLUMNS,
    FeatureImportanceError,
    build_feature_importance_rows,
    read_feature_importance_csv,
    render_feature_importance_csv,
    write_feature_importance_csv,
)
from mmm_evidence.pipeline.gates import (
    IMPORTANCE_AGREEMENT,
    evaluate_gates,
    importance_agreement_gate,
)
from tests.paths import ROOT
from tests.pipeline.test_artifacts import SCRAPS_ALPHA, fake_result, importance_scraps


def gates_of(report: dict, tenant: str) -> dict[str, dict]:
    return {g["name"]: g for g in report["tenants"][tenant]["gates"]}


def channel_rows(mmm: dict, truth: dict | None) -> dict:
    """Importance scraps with only what the gate reads."""
    return {"importance": [
        {"feature": c, "kind": "channel", "mmm_share": v,
         "true_share": None if truth is None else truth.get(c)} for c, v in mmm.items()]
        + [{"feature": "trend", "kind": "calendar", "mmm_share": None, "true_share": None}]}


# --------------------------------------------------------------------------- the gate


def test_gate_passes_when_the_mmm_ranks_the_channels_like_the_truth() -> None:
    scraps = channel_rows({"tv": 0.2, "search": 0.1, "social": 0.05, "radio": 0.01},
                          {"tv": 0.15, "search": 0.12, "social": 0.02, "radio": 0.03})
    gate = importance_agreement_gate(scraps, ImportanceGate())
    assert gate["name"] == IMPORTANCE_AGREEMENT and gate["threshold"] == 0.7
    assert gate["value"] == pytest.approx(0.8)  # one adjacent swap among 4
    assert gate["passed"] is True
    assert gate["detail"] == ("Spearman ρ 0.800 ≥ 0.7 of the MMM's contribution shares vs the "
                              "true shares over 4 channels; largest: MMM tv, truth tv")


def test_gate_fails_below_the_threshold() -> None:
    scraps = channel_rows({"tv": 0.1, "search": 0.2, "social": 0.05},
                          {"tv": 0.2, "search": 0.1, "social": 0.05})
    gate = importance_agreement_gate(scraps, ImportanceGate())
    assert gate["value"] == pytest.approx(0.5) and gate["passed"] is False
    assert "0.500 < 0.7" in gate["detail"] and "largest: MMM search, truth tv" in gate["detail"]
    assert importance_agreement_gate(scraps, ImportanceGate(min_spearman=0.5))["passed"] is True


def test_a_truth_file_without_shares_is_told_apart_from_no_truth() -> None:
    scraps = channel_rows({"tv": 0.2, "search": 0.1, "social": 0.05}, None)
    with_truth = importance_agreement_gate(scraps, ImportanceGate(), has_truth=True)
    assert with_truth["passed"] is None
    assert with_truth["detail"] == ("the truth file gives no contribution share "
                                    "(channels.<channel>.contribution_share)")
    assert importance_agreement_gate(scraps, ImportanceGate())["detail"] == \
        "no ground truth for this tenant"


@pytest.mark.parametrize(("scraps", "why"), [
    (None, "the importance notebook did not run"),
    ({"importance": []}, "reported no channels"),
    (channel_rows({"tv": 0.2, "search": 0.1, "social": 0.05}, None),
     "no ground truth for this tenant"),
    (channel_rows({"tv": 0.2, "search": 0.1}, {"tv": 0.3, "search": 0.1}),
     "2 channel(s) with an MMM and a true share: a rank correlation needs at least 3"),
    (channel_rows({"tv": 0.2, "search": 0.1, "social": None},
                  {"tv": 0.3, "search": 0.1, "social": 0.05}), "2 channel(s)"),
    (channel_rows({"tv": 0.2, "search": 0.1, "social": 0.05},
                  {"tv": 0.1, "search": 0.1, "social": 0.1}), "the same true share"),
])
def test_gate_is_null_when_not_assessable(scraps, why) -> None:
    gate = importance_agreement_gate(scraps, ImportanceGate())
    assert gate["passed"] is None and gate["value"] is None
    assert why in gate["detail"]


def test_gate_min_channels_comes_from_the_settings() -> None:
    scraps = channel_rows({"tv": 0.2, "search": 0.1, "social": 0.05},
                          {"tv": 0.3, "search": 0.1, "social": 0.05})
    assert importance_agreement_gate(scraps, ImportanceGate())["passed"] is True
    gate = importance_agreement_gate(scraps, ImportanceGate(min_channels=4))
    assert gate["passed"] is None and "at least 4" in gate["detail"]


def test_gate_fails_when_the_mmm_ranks_nothing() -> None:
    scraps = channel_rows({"tv": 0.0, "search": 0.0, "social": 0.0},
                          {"tv": 0.3, "search": 0.1, "social": 0.05})
    gate = importance_agreement_gate(scraps, ImportanceGate())
    assert gate["passed"] is False and gate["value"] is None
    assert "same share" in gate["detail"]


def test_evaluate_gates_includes_the_importance_gate_with_its_reason() -> None:
    gates = {g["name"]: g for g in evaluate_gates(SCRAPS_ALPHA, GateSettings())}
    assert gates[IMPORTANCE_AGREEMENT]["passed"] is None
    assert gates[IMPORTANCE_AGREEMENT]["detail"] == "the importance notebook did not run"
    gates = {g["name"]: g for g in evaluate_gates(
        SCRAPS_ALPHA, GateSettings(), importance=importance_scraps("alpha", reverse=True),
        importance_unavailable="unused")}
    assert gates[IMPORTANCE_AGREEMENT]["passed"] is False
    assert gates[IMPORTANCE_AGREEMENT]["value"] == pytest.approx(-1.0)


def test_the_notebook_contract() -> None:
    assert IMPORTANCE_NOTEBOOK == "importance"
    assert set(IMPORTANCE_SCRAPS) == {"tenant", "importance", "agreement", "surrogate",
                                      "summary"}


# --------------------------------------------------------------------------- settings


def test_the_experiment_file_sets_the_threshold_and_runs_the_notebook() -> None:
    exp = load_experiment(ROOT / "params" / "mmm_v2.yaml")
    assert exp.gates.importance_agreement == ImportanceGate(min_spearman=0.7, min_channels=3)
    assert "importance" in exp.notebooks


def test_bad_importance_settings_name_file_and_key(tmp_path: Path) -> None:
    from tests.fixtures.pipeline.experiment import build_experiment

    params = build_experiment(tmp_path, ["alpha"])
    text = params.read_text(encoding="utf-8")
    params.write_text(text + textwrap.dedent("""\
        gates:
          importance_agreement: {min_channels: 2}
        """), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"key 'gates\.importance_agreement\.min_channels'"):
        load_experiment(params)
    params.write_text(text + "gates: {importance_agreement: {min_spearman: 1.5}}\n",
                      encoding="utf-8")
    with pytest.raises(ConfigError, match=r"fixture_exp\.yaml: key 'gates\.importance_agreement"
                                          r"\.min_spearman'"):
        load_experiment(params)


# --------------------------------------------------------------------------- the CSV


def test_rows_of_the_run_are_sorted_and_skip_tenants_without_the_notebook(
        tmp_path: Path) -> None:
    result = fake_result(tmp_path, tmp_path / "out", importance={
        "beta": ("ok", importance_scraps("beta", truth=False)),
        "alpha": ("ok", importance_scraps("alpha")),
        "gamma": ("error", {})})
    rows = build_feature_importance_rows(result)
    assert [(r["tenant"], r["feature"]) for r in rows] == [
        ("alpha", "search"), ("alpha", "social"), ("alpha", "tv"), ("alpha", "trend"),
        ("beta", "search"), ("beta", "social"), ("beta", "tv"), ("beta", "trend")]
    assert all(tuple(r) == CSV_COLUMNS for r in rows)
    report = build_validation_report(result)
    gamma = gates_of(report, "gamma")[IMPORTANCE_AGREEMENT]
    assert gamma["passed"] is None and "importance notebook errored" in gamma["detail"]
    assert gates_of(report, "alpha")[IMPORTANCE_AGREEMENT]["passed"] is True
    assert gates_of(report, "beta")[IMPORTANCE_AGREEMENT]["detail"] == \
        "no ground truth for this tenant"


def test_csv_header_format_and_typed_round_trip(tmp_path: Path) -> None:
    rows = importance_scraps("alpha")["importance"]
    rows[0]["mean_abs_shap"] = 1 / 3
    rows[1]["mmm_share"] = -0.0
    path = write_feature_importance_csv(rows, tmp_path / FEATURE_IMPORTANCE_FILE)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS)
    assert "\r" not in text and text.endswith("\n")
    assert lines[1].startswith("alpha,search,channel,50,")  # channels first, by name
    assert lines[3].startswith("alpha,tv,channel,0.3333333333,2,1,")
    assert lines[4].startswith("alpha,trend,calendar,150,1,,,,,,,,3,1,1,1")
    assert ",0," in lines[1]  # -0.0 is written as 0
    back = read_feature_importance_csv(path)
    assert [r["feature"] for r in back] == ["search", "social", "tv", "trend"]
    tv = back[2]
    assert tv["mean_abs_shap"] == pytest.approx(1 / 3, rel=1e-9)
    for row in back:
        assert tuple(row) == CSV_COLUMNS
        assert all(isinstance(row[c], str) for c in ("tenant", "feature", "kind"))
        assert all(row[c] is None or type(row[c]) is int for c in INT_COLUMNS)
        assert all(row[c] is None or type(row[c]) is float for c in FLOAT_COLUMNS)
    assert back[3]["mmm_share"] is None and back[3]["shap_rank"] is None
    assert back[3]["shap_rank_all"] == 1 and back[3]["n_channels"] == 3


def test_csv_bytes_do_not_depend_on_row_order() -> None:
    rows = importance_scraps("alpha")["importance"] + importance_scraps("beta")["importance"]
    assert render_feature_importance_csv(rows) == render_feature_importance_csv(rows[::-1])


def test_csv_writer_refuses_what_is_not_a_number() -> None:
    rows = importance_scraps("alpha")["importance"]
    rows[0]["mean_abs_shap"] = "a lot"
    with pytest.raises(FeatureImportanceError, match="column 'mean_abs_shap': expected a number"):
        render_feature_importance_csv(rows)
    rows = importance_scraps("alpha")["importance"]
    rows[0]["shap_rank"] = 1.5
    with pytest.raises(FeatureImportanceError, match="'shap_rank': expected a whole number"):
        render_feature_importance_csv(rows)


def test_reading_a_bad_csv_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / FEATURE_IMPORTANCE_FILE
    with pytest.raises(FeatureImportanceError, match="file not found"):
        read_feature_importance_csv(path)
    path.write_text("tenant,feature\nalpha,tv\n", encoding="utf-8")
    with pytest.raises(FeatureImportanceError, match=r"feature_importance\.csv: missing "
                                                     r"column\(s\) kind, mean_abs_shap"):
        read_feature_importance_csv(path)
    rows = importance_scraps("alpha")["importance"]
    lines = render_feature_importance_csv(rows).splitlines()
    cells = lines[2].split(",")
    cells[3] = "lots"  # mean_abs_shap
    lines[2] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(FeatureImportanceError, match="line 3, column 'mean_abs_shap': expected "
                                                     "a number, got 'lots'"):
        read_feature_importance_csv(path)


def test_write_run_artifacts_writes_the_csv_reproducibly(tmp_path: Path) -> None:
    first = write_run_artifacts(fake_result(tmp_path, tmp_path / "a"))["feature_importance"]
    second = write_run_artifacts(fake_result(tmp_path, tmp_path / "b"))["feature_importance"]
    assert first.name == FEATURE_IMPORTANCE_FILE
    assert first.read_bytes() == second.read_bytes()
    rows = read_feature_importance_csv(first)
    assert {r["tenant"] for r in rows} == {"alpha", "beta", "gamma"}
    assert str(tmp_path) not in first.read_text(encoding="utf-8")


def test_without_the_importance_notebook_the_gate_is_null_and_no_csv_is_left(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    full = fake_result(tmp_path, out)
    write_run_artifacts(full)
    assert (out / FEATURE_IMPORTANCE_FILE).is_file()
    notebooks = [n for n in full.exp.notebooks if n != IMPORTANCE_NOTEBOOK]
    result = dataclasses.replace(
        full, exp=full.exp.model_copy(update={"notebooks": notebooks}),
        tasks=[t for t in full.tasks if t.notebook != IMPORTANCE_NOTEBOOK])
    paths = write_run_artifacts(result)
    assert "feature_importance" not in paths
    assert not (out / FEATURE_IMPORTANCE_FILE).exists()  # a stale file is removed
    report = json.loads(paths["validation_report"].read_text(encoding="utf-8"))
    gate = gates_of(report, "alpha")[IMPORTANCE_AGREEMENT]
    assert gate["passed"] is None and "not in this experiment" in gate["detail"]

"""PII scan, k-anonymity and the leak scan (evaluation/privacy.py)."""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmm_evidence.config import PII_COLUMN_PATTERNS, TenantConfig, load_experiment
from mmm_evidence.data.loader import read_tenant_csv
from mmm_evidence.data.schema import DataError
from mmm_evidence.evaluation import privacy as pv
from mmm_evidence.pipeline.gates import privacy_k_anonymity_gate, privacy_no_pii_gate

PATTERNS = list(PII_COLUMN_PATTERNS)


# --------------------------------------------------------------------------- PII


@pytest.mark.parametrize("value, kinds", [
    ("jane.doe@example.com", {"email"}),
    ("contact: J. Doe <jane+mmm@mail.example.co.uk>", {"email"}),
    ("+44 20 7946 0958", {"phone_number"}),
    ("(555) 123-4567", {"phone_number"}),
    ("0049 151 12345678", {"phone_number"}),
    ("4111 1111 1111 1111", {"card_number"}),
    ("5500-0000-0000-0004", {"card_number"}),
    ("192.168.10.254", {"ip_address"}),
    ("2001:db8::8a2e:370:7334", {"ip_address"}),
])
def test_value_kinds_find_personal_data(value: str, kinds: set[str]) -> None:
    assert pv.value_kinds(value) == kinds


@pytest.mark.parametrize("value", [
    "2023-01-02", "2023-01-02T10:00:00", "2023-01-02 10:00:00+01:00", "North-01", "1.0123",
    "183452.17", "v1.2.3", "12:30", "4111 1111 1111 1112", "urban", "", "spend_tv",
    "1,234,567", "Central-05",
])
def test_value_kinds_leave_ordinary_values_alone(value: str) -> None:
    assert pv.value_kinds(value) == set()


def test_luhn() -> None:
    assert pv.luhn_valid("4111111111111111") and pv.luhn_valid("79927398713")
    assert not pv.luhn_valid("4111111111111112") and not pv.luhn_valid("41x1")


@pytest.mark.parametrize("column", ["email", "E-Mail", "customer_email", "customer_name",
                                    "First Name", "Phone Number", "zip_code", "ip_address",
                                    "IP", "date_of_birth", "card_number", "name", "street"])
def test_pii_column_names(column: str) -> None:
    assert pv.pii_column_name(column, PATTERNS)


@pytest.mark.parametrize("column", ["segment", "date", "revenue", "spend_tv", "region",
                                    "income_tier", "urbanicity", "population", "display_name",
                                    "shipping_cost", "hotel_nights", "price_index", "zipper"])
def test_ordinary_column_names(column: str) -> None:
    assert not pv.pii_column_name(column, PATTERNS)


def _frame(rows: dict[str, list[str]], name: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows, dtype=str)
    frame.attrs["file"] = name
    return frame


def test_scan_pii_names_file_column_kind_rows_and_line_but_never_the_value() -> None:
    data = _frame({"date": ["2024-01-01", "2024-01-08", "2024-01-15"],
                   "segment": ["north", "north", "north"],
                   "revenue": ["1000.5", "1010.25", "990.75"],
                   "contact": ["", "ann@example.com", "bob@example.org"],
                   "spend_mobile": ["1.0", "2.0", "3.0"],
                   "card_number": ["4111111111111111", "5500000000000004",
                                   "4012888888881881"]},
                  "acme.csv")
    findings = pv.scan_pii({"data": data}, PATTERNS, {"data": {"spend_mobile"}})
    by_column = {(f["column"], f["kind"]): f for f in findings}
    assert by_column[("contact", "email")] == {"file": "acme.csv", "column": "contact",
                                                "kind": "email", "rows": 2, "first_line": 3}
    assert by_column[("card_number", "card_number")]["rows"] == 3
    assert ("card_number", "name_like_column") in by_column
    assert not any(f["column"] in ("spend_mobile", "revenue", "date", "segment")
                   for f in findings)
    assert "@" not in json.dumps(findings) and "4111" not in json.dumps(findings)


def test_declared_columns_are_exempt_only_from_the_name_check() -> None:
    data = _frame({"phone": ["+44 20 7946 0958"]}, "x.csv")
    assert [f["kind"] for f in pv.scan_pii({"data": data}, PATTERNS, {"data": {"phone"}})] == [
        "phone_number"]
    assert {f["kind"] for f in pv.scan_pii({"data": data}, PATTERNS)} == {
        "name_like_column", "phone_number"}


# --------------------------------------------------------------------------- k-anonymity

TENANT = TenantConfig.model_validate({
    "name": "acme", "channels": ["tv"], "data": {"source": {
        "csv": "acme.csv", "columns": {"date": "Week", "segment": "Region"}}}})


def test_cell_counts_from_a_data_column_and_k_anonymity() -> None:
    data = _frame({"Week": ["2024-01-01", "2024-01-01", "2024-01-08", "2024-01-08"],
                   "Region": ["a", "b", "a", "b"], "customers": ["120", "9", "130", "40"]},
                  "acme.csv")
    counts, source = pv.cell_counts({"data": data}, TENANT, "customers")
    assert source == "column 'customers' of acme.csv (per week and segment)"
    assert counts.loc["b", "2024-01-01"] == 9 and counts.shape == (2, 2)
    result = pv.k_anonymity(counts, 10, source)
    assert result["passed"] is False and result["cells_below_k"] == 1
    assert result["segments_below_k"] == ["b"] and result["min_count"] == 9
    assert pv.k_anonymity(counts, 9, source)["passed"] is True
    gate = privacy_k_anonymity_gate({"k_anonymity": result})
    assert gate["passed"] is False and gate["value"] == 9 and gate["threshold"] == 10
    assert "segment(s) b: suppressed" in gate["detail"]


def test_cell_counts_from_the_segment_table_or_unknown() -> None:
    data = _frame({"Week": ["2024-01-01", "2024-01-08"], "Region": ["a", "a"]}, "acme.csv")
    segments = _frame({"segment": ["a"], "population": ["5000"]}, "regions.csv")
    counts, source = pv.cell_counts({"data": data, "segments": segments}, TENANT, "population")
    assert counts.to_numpy().tolist() == [[5000.0, 5000.0]] and "regions.csv" in source
    counts, why = pv.cell_counts({"data": data}, TENANT, "population")
    assert counts is None and "no column 'population'" in why
    result = pv.k_anonymity(None, 10, why)
    assert result["passed"] is None and privacy_k_anonymity_gate(
        {"k_anonymity": result})["passed"] is None
    assert pv.cell_counts({"data": data}, TENANT, None)[0] is None


def test_a_bad_count_is_an_error_naming_file_column_and_line() -> None:
    data = _frame({"Week": ["2024-01-01", "2024-01-08"], "Region": ["a", "a"],
                   "customers": ["12", "many"]}, "acme.csv")
    with pytest.raises(DataError, match=r"acme.csv: column 'customers'.*lines: 3"):
        pv.cell_counts({"data": data}, TENANT, "customers")


# --------------------------------------------------------------------------- a whole tenant


def write_csv_experiment(root: Path, extra: dict[str, list[str]] | None = None,
                         customers: list[int] | None = None) -> Path:
    """A CSV tenant ``acme`` (2 segments x 8 weeks) with optional extra columns."""
    dates = [f"2024-{1 + w // 4:02d}-{1 + 7 * (w % 4):02d}" for w in range(8)]
    rows = {"date": [], "segment": [], "revenue": [], "spend_tv": []}
    for g, seg in enumerate(("north", "south")):
        for w, day in enumerate(dates):
            rows["date"].append(day)
            rows["segment"].append(seg)
            rows["revenue"].append(f"{1000 + 37.25 * w + 100 * g:.2f}")
            rows["spend_tv"].append(f"{200 + 11.5 * w:.2f}")
    frame = pd.DataFrame({**rows, **(extra or {})})
    if customers is not None:
        frame["customers"] = np.repeat(customers, 8)
    (root / "tenants").mkdir(parents=True, exist_ok=True)
    frame.to_csv(root / "tenants" / "acme.csv", index=False)
    (root / "tenants" / "acme.yaml").write_text(textwrap.dedent("""\
        name: acme
        channels: [tv]
        data: {source: {csv: acme.csv}}
        """))
    (root / "exp.yaml").write_text(textwrap.dedent("""\
        experiment: acme_exp
        output_dir: out
        notebooks_dir: .
        tenants_dir: tenants
        tenants: [acme]
        notebooks: [validation]
        privacy: {count_column: customers}
        """))
    (root / "validation.ipynb").write_text("{}")
    return root / "exp.yaml"


def test_a_tenant_with_an_injected_email_column_fails_the_pii_gate(tmp_path: Path) -> None:
    emails = [f"user{i}@example.com" for i in range(16)]
    exp = load_experiment(write_csv_experiment(tmp_path, {"contact": emails},
                                               customers=[500, 800]))
    result = pv.assess_privacy(exp, "acme", tmp_path / "out")
    assert result.files == ["acme.csv"]
    gate = privacy_no_pii_gate(result.scraps()["privacy"])
    assert gate["passed"] is False and gate["value"] == 1
    assert "acme.csv: contact (email, 16 row(s), first on line 2)" in gate["detail"]
    assert "@" not in json.dumps(result.scraps())
    assert result.k_anonymity["passed"] is True  # 500 and 800 customers per cell


def test_a_clean_tenant_passes_and_a_small_segment_fails_k_anonymity(tmp_path: Path) -> None:
    exp = load_experiment(write_csv_experiment(tmp_path, customers=[500, 6]))
    result = pv.assess_privacy(exp, "acme", tmp_path / "out")
    assert privacy_no_pii_gate(result.scraps()["privacy"])["passed"] is True
    assert result.k_anonymity["segments_below_k"] == ["south"]
    assert result.counts.loc["south"].max() == 6
    text = result.k_anonymity_markdown()
    assert text.startswith("k-anonymity (k = 10): **fails** — ")
    assert "the smallest holds 6 individuals" in text and "below k: south." in text


def test_a_tenant_names_its_own_count_column(tmp_path: Path) -> None:
    """A real tenant's count column has its own name: the tenant's count_column names it and
    overrides the experiment's privacy.count_column; mapping it through columns: is an error
    that says where to name it."""
    path = write_csv_experiment(tmp_path, {"Kunden": ["500"] * 8 + ["7"] * 8})
    yaml_file = tmp_path / "tenants" / "acme.yaml"
    yaml_file.write_text(yaml_file.read_text() + "count_column: Kunden\n")
    result = pv.assess_privacy(load_experiment(path), "acme", tmp_path / "out")
    assert result.count_source == "column 'Kunden' of acme.csv (per week and segment)"
    assert result.k_anonymity["segments_below_k"] == ["south"]
    # without it, the experiment's own column name ('customers') is looked for and absent
    yaml_file.write_text(yaml_file.read_text().replace("count_column: Kunden\n", ""))
    result = pv.assess_privacy(load_experiment(path), "acme", tmp_path / "out")
    assert result.k_anonymity["passed"] is None and "no column 'customers'" in result.count_source
    assert result.k_anonymity_markdown().startswith("k-anonymity (k = 10) is not assessable: ")
    yaml_file.write_text(yaml_file.read_text().replace(
        "{csv: acme.csv}", "{csv: acme.csv, columns: {customers: Kunden}}"))
    with pytest.raises(DataError, match=r"'customers' are not canonical.*tenant's count_column"):
        read_tenant_csv(load_experiment(path).tenant("acme"))


# --------------------------------------------------------------------------- leak scan


def raw_input() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({
        "date": [f"2024-01-{d:02d}" for d in range(1, 21)],
        "segment": ["north"] * 20,
        "revenue": [f"{v:.2f}" for v in rng.uniform(150_000, 250_000, 20)],
        "spend_tv": [f"{v:.2f}" for v in rng.uniform(10_000, 50_000, 20)],
        "spend_search": [f"{v:.2f}" for v in rng.uniform(5_000, 9_000, 20)],
        "holiday": ["0"] * 19 + ["1"],
        "price_index": ["1.0123"] * 20,  # shared by every row: never distinctive
    }, dtype=str)
    frame.attrs["file"] = "acme.csv"
    return frame


def test_raw_rows_index_only_distinctive_values() -> None:
    rows = pv.raw_rows(raw_input())
    assert rows.label == "acme.csv" and rows.rows == 20
    assert rows.per_row.tolist() == [3] * 20  # revenue and the two spends
    assert "1.0123" not in rows.keys and "0" not in rows.keys


def test_a_planted_row_is_found_in_json_and_html_but_one_value_is_not() -> None:
    frame = raw_input()
    rows = pv.raw_rows(frame)
    r = frame.iloc[7]
    record = json.dumps({"tenants": {"acme": {"total": 123.0, "row": {
        "revenue": float(r["revenue"]), "spend_tv": float(r["spend_tv"]),
        "spend_search": float(r["spend_search"])}}}}, indent=2)
    found = pv.find_raw_rows(pv.numeric_keys(record), rows, 3)
    assert found == {"rows": 1, "lines": [9], "columns": ["revenue", "spend_search",
                                                          "spend_tv"], "dumped_columns": []}
    # an HTML table showing the row rounded to 6 significant digits is found too
    html = "<tr><td>7</td>" + "".join(f"<td>{float(r[c]):.6g}</td>" for c in
                                      ("revenue", "spend_tv", "spend_search")) + "</tr>"
    assert pv.find_raw_rows(pv.numeric_keys(html), rows, 3)["lines"] == [9]
    # one raw value, or values of different rows, are not a row
    lone = json.dumps({"x": float(r["revenue"]), "y": float(frame.iloc[8]["spend_tv"]),
                       "z": float(frame.iloc[9]["spend_search"])})
    assert pv.find_raw_rows(pv.numeric_keys(lone), rows, 3) is None
    # the row's values far apart (beyond the window of numbers) are not a row either
    far = " ".join([r["revenue"]] + [str(i * 1.5) for i in range(200)] + [r["spend_tv"]]
                   + [str(i * 2.5) for i in range(200)] + [r["spend_search"]])
    assert pv.find_raw_rows(pv.numeric_keys(far), rows, 3) is None


def test_a_column_dump_is_found_in_any_layout() -> None:
    frame = raw_input()
    rows = pv.raw_rows(frame)
    dump = json.dumps({c: {str(i): float(v) for i, v in enumerate(frame[c])}
                       for c in ("revenue", "spend_tv", "spend_search")})
    found = pv.find_raw_rows(pv.numeric_keys(dump), rows, 3)
    assert found["dumped_columns"] == ["revenue", "spend_search", "spend_tv"]
    two = json.dumps({c: list(map(float, frame[c])) for c in ("revenue", "spend_tv")})
    assert pv.find_raw_rows(pv.numeric_keys(two), rows, 3) is None


def test_numeric_keys_skip_images_and_read_escaped_notebook_text() -> None:
    png = base64.b64encode(bytes(range(256)) * 4).decode()
    text = f'"image/png": "{png}", "text/plain": "row\\n183452.17\\n0.5\\n12"'
    assert pv.numeric_keys(text) == ["183452"]


def test_scan_files_names_the_file_and_the_input_line(tmp_path: Path) -> None:
    frame = raw_input()
    r = frame.iloc[3]
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "fairness.html").write_text(
        f"<table><tr><td>{r['revenue']}</td><td>{r['spend_tv']}</td>"
        f"<td>{r['spend_search']}</td></tr></table>")
    (tmp_path / "validation_report.json").write_text(json.dumps({"r2": 0.91234}))
    found = pv.scan_files_for_raw_rows(
        sorted(tmp_path.rglob("*.*")), {"acme": pv.raw_rows(frame)}, tmp_path, 3,
        texts={"memory.json": "{}"})
    assert found == {"acme": [{"file": "tenants/fairness.html", "input": "acme.csv",
                               "rows": 1, "lines": [5], "columns": [
                                   "revenue", "spend_search", "spend_tv"],
                               "dumped_columns": []}]}


def test_a_scan_memo_reads_each_unchanged_file_once(tmp_path: Path, monkeypatch) -> None:
    frame = raw_input()
    rows = {"acme": pv.raw_rows(frame)}
    leak, clean = tmp_path / "leak.html", tmp_path / "clean.json"
    r = frame.iloc[3]
    leak.write_text(f"{r['revenue']} {r['spend_tv']} {r['spend_search']}")
    clean.write_text(json.dumps({"r2": 0.91234}))
    read = []
    keys = pv.numeric_keys
    monkeypatch.setattr(pv, "numeric_keys", lambda text: read.append(text) or keys(text))
    memo: dict = {}
    first = pv.scan_files_for_raw_rows([leak, clean], rows, tmp_path, 3, memo=memo)
    assert len(read) == 2 and len(memo) == 2
    assert pv.scan_files_for_raw_rows([leak, clean], rows, tmp_path, 3, memo=memo) == first
    assert len(read) == 2  # nothing read again
    # a file whose content changed is read again, and its findings change with it
    r = frame.iloc[7]
    clean.write_text(f"{r['revenue']} {r['spend_tv']} {r['spend_search']}")
    again = pv.scan_files_for_raw_rows([leak, clean], rows, tmp_path, 3, memo=memo)
    assert len(read) == 3
    assert [f["file"] for f in again["acme"]] == ["clean.json", "leak.html"]
    assert again == pv.scan_files_for_raw_rows([leak, clean], rows, tmp_path, 3)

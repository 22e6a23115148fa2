"""Paths of the project's own files, for tests."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params"
NOTEBOOKS = ROOT / "notebooks"
EXPERIMENT = PARAMS / "mmm_v2.yaml"
DEFAULT_TENANTS = ("northwind_retail", "alpine_telecom", "coastal_grocery", "summit_apparel")

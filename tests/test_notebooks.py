"""Notebooks are committed without outputs, tagged correctly, and narrate rather than compute."""

import json

import pytest

from tests.paths import NOTEBOOKS

NOTEBOOK_FILES = sorted(NOTEBOOKS.glob("*.ipynb"))
PARAMETERS = {"experiment_config", "tenant", "output_dir", "seed"}


def test_there_are_notebooks():
    assert NOTEBOOK_FILES, f"no notebooks in {NOTEBOOKS}"


STRIP = "strip them with `nox -s strip` before committing"


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: code cells {dirty} carry outputs; {STRIP}"


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_committed_without_execution_metadata(path):
    # an executed notebook whose outputs were cleared still carries each cell's execution
    # times and the kernel's language_info: its bytes change with every run, and with them
    # the run id and every tenant's cached task of that notebook
    nb = json.loads(path.read_text(encoding="utf-8"))
    extra = sorted({f"cell {i}: {key}" for i, c in enumerate(nb["cells"])
                    for key in c.get("metadata", {}) if key != "tags"})
    assert not extra, f"{path.name}: cell metadata {extra[:5]}; {STRIP}"
    language = nb["metadata"].get("language_info", {})
    assert set(language) <= {"name"}, (
        f"{path.name}: metadata.language_info carries {sorted(set(language) - {'name'})}; "
        f"{STRIP}")


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_first_code_cell_holds_only_the_parameters(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    first = code[0]
    assert "parameters" in first["metadata"].get("tags", []), f"{path.name}: untagged"
    names = {line.split("=")[0].strip() for line in "".join(first["source"]).splitlines()
             if "=" in line and not line.lstrip().startswith("#")}
    assert names == PARAMETERS, f"{path.name}: parameters cell defines {sorted(names)}"
    assert nb["metadata"]["kernelspec"]["name"] == "mmm-evidence"

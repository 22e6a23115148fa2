"""Run one of the project's notebooks in the package's own kernel, for smoke tests."""

from pathlib import Path

from tests.paths import NOTEBOOKS


def execute_notebook(name: str, params: Path, tenant: str, tmp_path: Path, seed: int = 11) -> Path:
    """Execute notebooks/<name>.ipynb with papermill for `tenant`; return the executed copy."""
    import papermill

    from mmm_evidence.pipeline.kernel import ensure_kernel

    ensure_kernel("mmm-evidence")
    out = tmp_path / f"{name}.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"), str(out), kernel_name="mmm-evidence",
        parameters={"experiment_config": str(params), "tenant": tenant,
                    "output_dir": str(tmp_path / "out"), "seed": seed},
        progress_bar=False, cwd=str(NOTEBOOKS))
    return out

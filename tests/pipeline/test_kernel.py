"""The dedicated notebook kernel: registered under sys.prefix, running this interpreter."""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager

from mmm_evidence.pipeline.kernel import KernelSetupError, ensure_kernel, kernel_info

PREFIX_KERNELS = Path(sys.prefix) / "share" / "jupyter" / "kernels"


@pytest.fixture
def throwaway_name() -> Iterator[str]:
    """A unique kernel name; its spec folder under sys.prefix is removed afterwards."""
    name = f"mmm-evidence-test-{uuid.uuid4().hex[:8]}"
    yield name
    shutil.rmtree(PREFIX_KERNELS / name, ignore_errors=True)


def test_ensure_kernel_registers_this_interpreter_under_sys_prefix(throwaway_name: str) -> None:
    assert not (PREFIX_KERNELS / throwaway_name).exists()
    spec_dir = ensure_kernel(throwaway_name)
    assert spec_dir == PREFIX_KERNELS / throwaway_name
    spec = json.loads((spec_dir / "kernel.json").read_text(encoding="utf-8"))
    assert spec["argv"][0] == sys.executable
    assert spec["display_name"] == "Python (mmm-evidence)"
    resolved = KernelSpecManager().get_kernel_spec(throwaway_name)
    assert Path(resolved.resource_dir) == spec_dir
    assert kernel_info(throwaway_name)["argv"][0] == sys.executable


def test_ensure_kernel_is_idempotent(throwaway_name: str) -> None:
    spec_file = ensure_kernel(throwaway_name) / "kernel.json"
    before = spec_file.stat().st_mtime_ns
    assert ensure_kernel(throwaway_name) / "kernel.json" == spec_file
    assert spec_file.stat().st_mtime_ns == before


def test_ensure_kernel_repairs_a_prefix_spec_for_another_interpreter(throwaway_name: str
                                                                      ) -> None:
    folder = PREFIX_KERNELS / throwaway_name
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text(json.dumps({
        "argv": ["/opt/other/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "other", "language": "python"}), encoding="utf-8")
    ensure_kernel(throwaway_name)
    spec = json.loads((folder / "kernel.json").read_text(encoding="utf-8"))
    assert spec["argv"][0] == sys.executable


def test_the_project_kernel_is_registered() -> None:
    assert ensure_kernel("mmm-evidence") == PREFIX_KERNELS / "mmm-evidence"


def test_a_shadowing_spec_for_another_interpreter_is_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shadow = tmp_path / "kernels" / "mmm-evidence"
    shadow.mkdir(parents=True)
    (shadow / "kernel.json").write_text(json.dumps({
        "argv": ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "shadow", "language": "python"}), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))  # searched before sys.prefix
    with pytest.raises(KernelSetupError) as info:
        ensure_kernel("mmm-evidence")
    message = str(info.value)
    assert str(shadow / "kernel.json") in message
    assert "/usr/bin/python3" in message and sys.executable in message


def test_the_generic_python3_kernel_is_refused() -> None:
    with pytest.raises(KernelSetupError, match="python3"):
        ensure_kernel("python3")


def test_a_spec_whose_env_overrides_the_runs_kernel_environment_is_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `ipykernel install --user --name mmm-evidence --env ...` runs this interpreter, but
    # jupyter_client lets its env win over the one the run starts kernels with
    from mmm_evidence.pipeline.runner import KERNEL_ENV

    shadow = tmp_path / "kernels" / "mmm-evidence"
    shadow.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "shadow", "language": "python",
            "env": {"PYTHONHASHSEED": "random", "MPLBACKEND": "agg", "MY_SETTING": "1"}}
    (shadow / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    with pytest.raises(KernelSetupError) as info:
        ensure_kernel("mmm-evidence", KERNEL_ENV)
    message = str(info.value)
    assert str(shadow / "kernel.json") in message
    assert "MPLBACKEND='agg'" in message and "PYTHONHASHSEED='random'" in message
    assert "MY_SETTING" not in message
    # a value that is not text fails every kernel start: refused up front
    spec["env"] = {"PYTHONHASHSEED": 0}
    (shadow / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(KernelSetupError, match="PYTHONHASHSEED as int, not text"):
        ensure_kernel("mmm-evidence", KERNEL_ENV)
    # a variable the run does not set is the spec's own business, and is recorded; a
    # ${VAR} that jupyter_client fills from the launch environment is no conflict
    spec["env"] = {"MY_SETTING": "1", "PYTHONHASHSEED": "${PYTHONHASHSEED}"}
    (shadow / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    assert ensure_kernel("mmm-evidence", KERNEL_ENV) == shadow
    assert kernel_info("mmm-evidence")["env"]["MY_SETTING"] == "1"

"""The Jupyter kernel the notebooks run in: this interpreter, registered inside its own environment.

Papermill starts kernels by name through jupyter_client's ``KernelSpecManager``. A generic
``python3`` spec may point at any interpreter on the machine, so the runner uses a dedicated
spec (default ``mmm-evidence``) installed under ``sys.prefix`` and checks that the spec that
name actually resolves to runs ``sys.executable``.
"""

from __future__ import annotations

import json
import os
import string
import sys
from collections.abc import Mapping
from pathlib import Path

DISPLAY_NAME = "Python (mmm-evidence)"

__all__ = ["KernelSetupError", "ensure_kernel", "kernel_info", "kernel_runs_this_interpreter"]


class KernelSetupError(RuntimeError):
    """The notebook kernel cannot be registered, or another spec shadows it."""


def _prefix_spec_dir(name: str, prefix: str | Path | None = None) -> Path:
    return Path(prefix or sys.prefix) / "share" / "jupyter" / "kernels" / name


def _same_interpreter(executable: str) -> bool:
    """True when ``executable`` starts this interpreter (same environment, same binary)."""
    if not executable:
        return False
    candidate = Path(executable)
    if not candidate.is_absolute():
        return False
    ours = Path(sys.executable)
    if os.path.abspath(candidate) == os.path.abspath(ours):
        return True
    # python, python3, python3.11 in the same environment's bin folder are the same interpreter;
    # a base interpreter that a venv symlinks to is NOT (it would miss the venv's packages).
    try:
        return (candidate.parent.resolve() == ours.parent.resolve()
                and candidate.resolve() == ours.resolve())
    except OSError:
        return False


def _read_argv(spec_dir: Path) -> list[str]:
    try:
        data = json.loads((spec_dir / "kernel.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    argv = data.get("argv")
    return [str(a) for a in argv] if isinstance(argv, list) else []


def kernel_runs_this_interpreter(spec_dir: str | Path) -> bool:
    argv = _read_argv(Path(spec_dir))
    return bool(argv) and _same_interpreter(argv[0])


def ensure_kernel(name: str = "mmm-evidence", required_env: Mapping[str, str] | None = None
                  ) -> Path:
    """Register kernelspec ``name`` for this interpreter under ``sys.prefix``; return its folder.

    Raises KernelSetupError when the spec jupyter_client resolves for ``name`` (e.g. a
    user-level one, which takes precedence) runs a different interpreter, or when its ``env``
    block sets a variable of ``required_env`` to another value (jupyter_client lets a spec's
    env override the one the kernel is started with: the run's hash seed, BLAS threads and
    matplotlib backend would silently be the spec's).
    """
    if name == "python3":
        raise KernelSetupError(
            "refusing to use the generic 'python3' kernel: it may run any interpreter; set "
            "runner.kernel_name to a dedicated name such as 'mmm-evidence'")
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    spec_dir = _prefix_spec_dir(name)
    if not kernel_runs_this_interpreter(spec_dir):
        try:
            from ipykernel.kernelspec import install
        except ImportError as exc:  # pragma: no cover - ipykernel is a dependency
            raise KernelSetupError(f"ipykernel is not installed in {sys.prefix}") from exc
        try:
            installed = install(kernel_name=name, display_name=DISPLAY_NAME, prefix=sys.prefix)
        except OSError as exc:
            raise KernelSetupError(
                f"cannot register kernel {name!r} under {spec_dir}: {exc}") from exc
        spec_dir = Path(installed)
        if not kernel_runs_this_interpreter(spec_dir):
            raise KernelSetupError(
                f"{spec_dir / 'kernel.json'}: installed kernel does not run {sys.executable}")

    manager = KernelSpecManager()
    try:
        resolved = manager.get_kernel_spec(name)
    except NoSuchKernel as exc:
        raise KernelSetupError(
            f"kernel {name!r} was installed in {spec_dir} but jupyter_client does not find it; "
            f"searched: {', '.join(manager.kernel_dirs)}") from exc
    resolved_dir = Path(resolved.resource_dir)
    argv0 = resolved.argv[0] if resolved.argv else ""
    if not _same_interpreter(argv0):
        raise KernelSetupError(
            f"kernel {name!r} resolves to {resolved_dir / 'kernel.json'}, which runs {argv0!r}, "
            f"not this interpreter {sys.executable!r}. That spec shadows the one in {spec_dir} "
            f"(user-level and JUPYTER_PATH specs take precedence). Remove it, e.g. "
            f"`jupyter kernelspec remove {name}`, or re-register it with `{sys.executable} -m "
            f"ipykernel install --user --name {name}`.")
    spec_env = dict(resolved.env or {})
    not_text = sorted(k for k, v in spec_env.items() if not isinstance(v, str))
    if not_text:
        raise KernelSetupError(
            f"{resolved_dir / 'kernel.json'}: its 'env' gives {', '.join(not_text)} as "
            f"{', '.join(type(spec_env[k]).__name__ for k in not_text)}, not text; a kernel "
            f"started from it fails (jupyter_client substitutes ${{...}} in strings only)")
    launch = {**os.environ, **(required_env or {})}  # jupyter_client fills ${VAR} from it
    clashes = sorted(k for k, v in (required_env or {}).items()
                     if k in spec_env
                     and string.Template(spec_env[k]).safe_substitute(launch) != str(v))
    if clashes:
        shown = ", ".join(f"{k}={spec_env[k]!r} (the run needs {required_env[k]!r})"
                          for k in clashes)
        raise KernelSetupError(
            f"{resolved_dir / 'kernel.json'}: its 'env' sets {shown}, which would override what "
            f"every notebook kernel must get for reproducible results. Remove those keys from "
            f"the spec, or remove the spec (`jupyter kernelspec remove {name}`) so that the "
            f"one in {spec_dir} is used.")
    return resolved_dir


def kernel_info(name: str) -> dict:
    """Name, spec folder, argv and the spec's own ``env`` of the kernel ``name`` as
    jupyter_client resolves it."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(name)
    return {"name": name, "resource_dir": str(spec.resource_dir), "argv": list(spec.argv),
            "display_name": spec.display_name,
            "env": {str(k): str(v) for k, v in sorted((spec.env or {}).items())}}

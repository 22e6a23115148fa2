"""Notebook kernels forked from a pre-imported template process (Linux), instead of started cold.

A cold IPython kernel spends seconds before the notebook's first line runs: starting Python,
importing ipykernel, then the notebook's own imports (pandas, scipy, matplotlib, scrapbook,
mmm_evidence ...) — for every tenant × notebook. Here one *template* process per runner worker
imports all of that once; each kernel is a ``fork()`` of it, so it starts with those modules
already in memory and runs nothing else first: every notebook still gets a fresh process of its
own, exactly as if its imports had just run.

The template only imports modules (it runs no notebook code, opens no socket of a kernel,
starts no thread; when an import leaves a thread behind that is not known to be fork-safe, or
imports matplotlib's inline backend, which must be set up by the kernel's own shell, forking
is refused and kernels start the ordinary way). It is started with the kernel environment
(``KERNEL_ENV``: hash seed, BLAS threads, matplotlib backend) and the kernel command's
interpreter options, which matter at interpreter start and import time. What it imports is
read from the sources (``kernel_preload``): the notebooks' imports and, through this package's
modules they use, the libraries those import lazily (LightGBM, SHAP ...). Import-time warnings
of libraries are not repeated in every notebook.

Pieces:

- ``ForkServer`` (runner side): starts the template (``python -m
  mmm_evidence.pipeline.forkserver``) and asks it over a socket pair to fork kernels; the
  template is the kernels' parent, reaps them and kills them when the runner goes away.
- ``ForkedKernel``: the ``subprocess.Popen`` subset jupyter_client uses (poll, wait, signals).
- ``ForkingProvisioner``: jupyter_client's ``LocalProvisioner`` that launches through the fork
  server when the kernel command is this interpreter's ``-m ipykernel_launcher``.
- ``kernel_manager_class(env, preload, fork)``: the kernel manager papermill gets: the kernel
  environment passed explicitly (never through ``os.environ``, so threads of a Dask worker
  cannot interfere), and the forking provisioner where it can be used.
"""

from __future__ import annotations

import ast
import atexit
import functools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["BASE_PRELOAD", "ForkServer", "ForkedKernel", "fork_server", "fork_supported",
           "kernel_manager_class", "kernel_preload", "launcher_options", "notebook_imports"]

#: Imported by every template: what any kernel imports before the notebook's first cell.
BASE_PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell",
                "ipykernel.debugger", "IPython", "IPython.display", "IPython.core.history",
                "sqlite3", "psutil", "tornado.queues", "faulthandler", "matplotlib",
                "matplotlib.pyplot")

#: Never imported by the template: importing it runs integration code that needs the
#: kernel's shell (matplotlib's inline backend registers its display hooks at import time;
#: the package imports the backend).
NEVER_PRELOAD = ("matplotlib_inline",)

_KERNEL_MODULE = "ipykernel_launcher"


def fork_supported() -> bool:
    """True where kernels can be forked: Linux (fork is unsafe on macOS, absent on Windows)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def notebook_imports(notebooks: Iterable[str | Path]) -> list[str]:
    """Modules the notebooks' code cells import (``import a.b``, ``from a.b import c``), in
    order of first appearance; cells that do not parse (magics) are skipped."""
    import nbformat

    found: dict[str, None] = {}
    for path in notebooks:
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:  # IPython magics, shell escapes
                continue
            for name in _imports_of(tree):
                found.setdefault(name, None)
    return list(found)


#: Modules of this package that only the runner uses (never what a notebook needs).
_RUNNER_ONLY = ("mmm_evidence.cli", "mmm_evidence.bundle", "mmm_evidence.pipeline.runner",
                "mmm_evidence.pipeline.executors", "mmm_evidence.pipeline.forkserver",
                "mmm_evidence.pipeline.inprocess", "mmm_evidence.pipeline.kernel",
                "mmm_evidence.pipeline.export", "mmm_evidence.pipeline.cache")
#: Libraries never imported by a template (a cluster client starts threads; not analysis).
_NEVER_LIBRARIES = ("dask", "distributed", "nbconvert", "pytest")


def _package_source(name: str) -> tuple[Path, bool] | None:
    """(source file, is a package) of module ``name`` of this package, found without importing
    it; None when ``name`` is not a module of it (e.g. a function imported from one)."""
    root = Path(__file__).resolve().parents[1]  # .../mmm_evidence
    parts = name.split(".")[1:]
    folder = root.joinpath(*parts)
    if (folder / "__init__.py").is_file():
        return folder / "__init__.py", True
    module = folder.with_suffix(".py")
    return (module, False) if parts and module.is_file() else None


def _imports_of(tree: ast.AST, package: str = "") -> list[str]:
    """Modules imported anywhere in ``tree`` (also inside functions, and the modules named by
    ``imported_on_first_call``); ``from a import b`` gives ``a`` and, when ``a.b`` is a module
    of this package, ``a.b``; relative imports are resolved against ``package``."""
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)  # lazy imports:
                and node.func.id == "imported_on_first_call" and node.args  # model/transforms
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            found.append(node.args[0].value)
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[:len(parts) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append(module)
            if module.split(".")[0] == "mmm_evidence":
                found.extend(f"{module}.{alias.name}" for alias in node.names
                             if _package_source(f"{module}.{alias.name}") is not None)
    return [m for m in found if m]


def _module_imports(name: str) -> list[str]:
    """Modules imported anywhere in this package's module ``name``."""
    found = _package_source(name)
    if found is None:
        return []
    path, is_package = found
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return []
    return _imports_of(tree, name if is_package else name.rpartition(".")[0])


def kernel_preload(notebooks: Iterable[str | Path]) -> list[str]:
    """What a kernel template should import for these notebooks: the modules their cells
    import, and — following this package's modules they reach — every library those modules
    import, at the top or lazily inside a function (e.g. ``lightgbm`` or ``shap``, imported
    only where they are used). Runner-only modules are not followed. Nothing is imported
    here: sources are read and parsed."""
    order: dict[str, None] = {}
    queue = notebook_imports(notebooks)
    seen: set[str] = set()
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        top = name.split(".")[0]
        if top in _NEVER_LIBRARIES or top == "__future__":
            continue
        if top != "mmm_evidence":
            order.setdefault(name, None)
            continue
        if name.startswith(_RUNNER_ONLY) or _package_source(name) is None:
            continue
        order.setdefault(name, None)
        queue.extend(_module_imports(name))
    return list(order)


#: Native threads that survive a fork safely: jemalloc (pyarrow's allocator, which pandas
#: loads) quiesces its background thread around ``fork()`` with its own atfork handlers.
FORK_SAFE_THREADS = frozenset({"jemalloc_bg_thd"})


def _other_threads() -> list[str]:
    """Names of this process's OS threads besides the main one that are not fork-safe."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    names = []
    for task in tasks:
        if int(task) == os.getpid():
            continue
        try:
            with open(f"/proc/self/task/{task}/comm", encoding="utf-8") as handle:
                name = handle.read().strip()
        except OSError:
            name = "?"
        if name not in FORK_SAFE_THREADS:
            names.append(name)
    return names


# --------------------------------------------------------------------------- runner side


class ForkedKernel:
    """A kernel forked by the template: the part of ``subprocess.Popen`` jupyter_client uses.

    The template is the kernel's parent and reaps it; exit codes are asked from it.
    """

    stdin = stdout = stderr = None

    def __init__(self, server: ForkServer, pid: int):
        self.server = server
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.server.exit_code(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """One template process (started on first use) that forks kernels on request."""

    def __init__(self, env: Mapping[str, str], preload: Iterable[str] = (),
                 options: Iterable[str] = ()):
        self.env = dict(env)
        self.options = tuple(options)
        self.preload = tuple(dict.fromkeys([*BASE_PRELOAD, *preload]))
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._file = None
        self.available: bool | None = None  # None until started
        self.reason = ""
        self.preloaded: list[str] = []
        self.start_seconds = 0.0

    # -- protocol: one request line, one reply line (JSON)
    def _request(self, message: dict) -> dict:
        import json

        assert self._file is not None
        self._file.write(json.dumps(message) + "\n")
        self._file.flush()
        line = self._file.readline()
        if not line:
            raise RuntimeError("the kernel fork server exited")
        return json.loads(line)

    def start(self) -> bool:
        """Start the template (once); False when it cannot fork kernels (see ``reason``)."""
        with self._lock:
            if self.available is not None:
                return self.available
            if not fork_supported():
                self.available, self.reason = False, f"fork is not used on {sys.platform}"
                return False
            started = time.perf_counter()
            ours, theirs = socket.socketpair()
            try:
                self._proc = subprocess.Popen(
                    [sys.executable, *self.options, "-m", "mmm_evidence.pipeline.forkserver",
                     str(theirs.fileno())],
                    env=self.env, stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),),
                    close_fds=True)
            finally:
                theirs.close()
            self._sock = ours
            self._file = ours.makefile("rw", encoding="utf-8", newline="\n")
            try:
                reply = self._request({"op": "preload", "modules": list(self.preload)})
            except (OSError, RuntimeError, ValueError) as exc:
                reply = {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}
            self.start_seconds = time.perf_counter() - started
            self.available = bool(reply.get("ok"))
            self.reason = reply.get("reason", "")
            self.preloaded = list(reply.get("imported", []))
            if not self.available:
                self._close()
            else:
                atexit.register(self.close)
            return self.available

    def spawn(self, argv: list[str], env: Mapping[str, str], cwd: str | Path | None
              ) -> ForkedKernel:
        """Fork a kernel running ``argv`` (``python -m ipykernel_launcher ...``)."""
        with self._lock:
            reply = self._request({"op": "fork", "argv": list(argv), "env": dict(env),
                                   "cwd": str(cwd) if cwd else None})
        if not reply.get("ok"):
            raise RuntimeError(f"kernel fork failed: {reply.get('reason')}")
        return ForkedKernel(self, int(reply["pid"]))

    def exit_code(self, pid: int) -> int | None:
        """The kernel's exit code, or None while it runs."""
        with self._lock:
            if self._file is None:
                return -signal.SIGKILL
            try:
                reply = self._request({"op": "status", "pid": pid})
            except (OSError, RuntimeError, ValueError):
                return -signal.SIGKILL
        return reply.get("exit")

    def _close(self) -> None:
        for closable in (self._file, self._sock):
            try:
                if closable is not None:
                    closable.close()
            except OSError:
                pass
        self._file = self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def close(self) -> None:
        """Stop the template (its remaining kernels are killed)."""
        with self._lock:
            self._close()


_SERVERS: dict[tuple, ForkServer] = {}
_SERVERS_LOCK = threading.Lock()


def fork_server(env: Mapping[str, str], preload: Iterable[str] = (),
                options: Iterable[str] = ()) -> ForkServer:
    """This process's fork server for ``env``, ``preload`` and interpreter ``options``
    (created on first use, reused after)."""
    key = (tuple(sorted(env.items())), tuple(preload), tuple(options))
    with _SERVERS_LOCK:
        server = _SERVERS.get(key)
        if server is None:
            server = _SERVERS[key] = ForkServer(env, preload, options)
    return server


def launcher_options(argv: list[str]) -> tuple[str, ...] | None:
    """The interpreter options (``-X...``) of ``argv`` when it is this interpreter running
    ``-m ipykernel_launcher``; None for any other command (not forked)."""
    from mmm_evidence.pipeline.kernel import _same_interpreter

    if not argv or not _same_interpreter(argv[0]) or "-m" not in argv:
        return None
    at = argv.index("-m")
    options = tuple(argv[1:at])
    if at + 1 >= len(argv) or argv[at + 1] != _KERNEL_MODULE:
        return None
    if not all(o.startswith("-X") and len(o) > 2 for o in options):
        return None
    return options


@functools.lru_cache(maxsize=1)
def _provisioner_class():
    """``ForkingProvisioner`` (a class made on first use: jupyter_client is imported lazily)."""
    from jupyter_client.provisioning import LocalProvisioner

    class ForkingProvisioner(LocalProvisioner):
        """``LocalProvisioner`` that forks the kernel from the template when it can, and
        launches it the ordinary way otherwise."""

        preload: tuple[str, ...] = ()
        forked = False

        async def launch_kernel(self, cmd: list[str], **kwargs: Any):
            env = kwargs.get("env") or dict(os.environ)
            options = launcher_options(cmd)
            if options is not None:
                server = fork_server(_template_env(env), self.preload, options)
                try:
                    process = server.spawn(cmd, env, kwargs.get("cwd")) if server.start() \
                        else None
                except (OSError, RuntimeError, ValueError):  # the template went away
                    process = None
                if process is not None:
                    self.process = process
                    self.pid = self.pgid = process.pid  # a session of its own
                    self.cwd = kwargs.get("cwd") or os.getcwd()
                    self.forked = True
                    return self.connection_info
            return await super().launch_kernel(cmd, **kwargs)

    return ForkingProvisioner


#: Variables that differ between kernels of one run and do not matter at import time.
_PER_KERNEL_ENV = ("JPY_PARENT_PID", "JPY_SESSION_NAME")


def _template_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in _PER_KERNEL_ENV}


def kernel_manager_class(env: Mapping[str, str], preload: Iterable[str] = (),
                         fork: bool = True):
    """A jupyter_client ``AsyncKernelManager`` subclass for papermill's ``kernel_manager_class``:
    kernels get ``os.environ`` updated with ``env``; with ``fork`` (and on Linux) they are
    forked from a template that imported ``BASE_PRELOAD`` and ``preload``."""
    from jupyter_client.manager import AsyncKernelManager

    provisioner = _provisioner_class()
    extra_env = dict(env)
    modules = tuple(preload)

    class Manager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            kw["env"] = {**(kw.get("env") or os.environ), **extra_env}
            if fork and self.provisioner is None and fork_supported():
                import uuid

                self.kernel_id = self.kernel_id or str(uuid.uuid4())
                self.provisioner = provisioner(kernel_id=self.kernel_id,
                                               kernel_spec=self.kernel_spec, parent=self)
                self.provisioner.preload = modules
            return await super().start_kernel(**kw)

    return Manager


# --------------------------------------------------------------------------- template side


def _import_all(modules: Iterable[str]) -> list[str]:
    """Import ``modules`` (skipping ``NEVER_PRELOAD`` and any that fails: the notebook reports
    its own import error); import-time warnings of libraries are not shown."""
    import importlib
    import warnings

    imported = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in modules:
            if name.startswith(NEVER_PRELOAD):
                continue
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001
                continue
            imported.append(name)
    return imported


def _warm_up() -> None:
    """Load what the first figure of every kernel would load (fonts, mathtext), off-screen."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(2, 2))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], label="x")
        ax.set_title(r"$R^2$ warm-up")
        ax.legend()
        fig.canvas.draw()
    except Exception:  # noqa: BLE001 - a warm-up only
        pass


def _child(argv: list[str], env: dict, cwd: str | None, ready_fd: int, close: list) -> None:
    """In the forked process: become ``python -m ipykernel_launcher ...`` (never returns)."""
    code = 1
    try:
        os.setsid()
        for closable in close:
            try:
                closable.close()
            except OSError:
                pass
        os.write(ready_fd, b"1")
        os.close(ready_fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if cwd:
            os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        import random

        random.seed()  # not the template's state
        if sys.path and Path(sys.path[0]) == Path(_TEMPLATE_CWD):  # as ipykernel_launcher does
            del sys.path[0]
        import ipykernel_launcher  # noqa: F401 - what argv[2] names (no side effects on import)
        from ipykernel import kernelapp

        # the template is the parent to watch (``JPY_PARENT_PID`` was read when the template
        # imported ipykernel): the kernel exits when the template goes
        sys.argv = [ipykernel_launcher.__file__, *argv[argv.index("-m") + 2:],
                    f"--IPKernelApp.parent_handle={os.getppid()}"]
        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


_TEMPLATE_CWD = os.getcwd()


def _serve(fd: int) -> None:
    """The template's loop: preload, then fork kernels and report their exit codes."""
    import json

    sock = socket.socket(fileno=fd)
    stream = sock.makefile("rw", encoding="utf-8", newline="\n")
    exits: dict[int, int] = {}
    children: set[int] = set()

    def reap() -> None:
        for pid in list(children):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                children.discard(pid)
                exits.setdefault(pid, -signal.SIGKILL)
                continue
            if done:
                children.discard(pid)
                exits[pid] = os.waitstatus_to_exitcode(status)

    def reply(message: dict) -> None:
        stream.write(json.dumps(message) + "\n")
        stream.flush()

    try:
        for line in stream:
            request = json.loads(line)
            op = request.get("op")
            if op == "preload":
                imported = _import_all(request.get("modules", []))
                _warm_up()
                threads = _other_threads()
                early = [m for m in sys.modules if m.startswith(NEVER_PRELOAD)]
                if early:  # a preloaded module imported it: kernels would show no figures
                    reply({"ok": False, "imported": imported,
                           "reason": f"{', '.join(early)} imported by the preload: not forking"})
                elif threads:
                    reply({"ok": False, "imported": imported,
                           "reason": f"threads {', '.join(threads)} run after the imports: "
                                     f"not forking"})
                else:
                    reply({"ok": True, "imported": imported})
            elif op == "fork":
                reap()
                read_fd, write_fd = os.pipe()
                pid = os.fork()
                if pid == 0:
                    os.close(read_fd)
                    _child(request["argv"], request["env"], request.get("cwd"), write_fd,
                           [stream, sock])
                os.close(write_fd)
                os.read(read_fd, 1)  # the child has its own session now
                os.close(read_fd)
                children.add(pid)
                reply({"ok": True, "pid": pid})
            elif op == "status":
                reap()
                pid = int(request["pid"])
                reply({"exit": exits.get(pid) if pid not in children else None})
            else:
                reply({"ok": False, "reason": f"unknown request {op!r}"})
    finally:  # the runner went away: its kernels go too
        for pid in children:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass


def main(fd: int) -> int:
    """The template process: serve until the runner goes away. Ctrl-C reaches the whole
    process group, so the template gets it too: it ends quietly (its kernels with it) and
    the runner reports the interruption once."""
    try:
        _serve(fd)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover - the template process
    sys.exit(main(int(sys.argv[1])))

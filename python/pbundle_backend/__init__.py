"""pbundle_backend: the Python side of a pbundle full-stack app (standard library only).

A full-stack AppBundle runs its Python backend as a subprocess of the bundle's
runtime and talks to it with JSON-RPC over stdin and stdout, one JSON object per
line (the protocol of auroraview's packing document):

    request   {"id": "1", "method": "api.echo", "params": {"text": "hi"}}
    response  {"id": "1", "ok": true, "result": "hi"}
    error     {"id": "1", "ok": false, "error": "Error message"}

pbundle adds two kinds of line, both optional for a backend:

    event     {"event": "progress", "data": {...}}          backend -> host -> frontend
    ready     {"event": "pbundle.ready", "data": {"methods": [...], ...}}

and requests from the backend to the host ({"id": "b1", "method": "...",
"params": ...} written by the backend, answered on stdin), which the host
forwards to its plugins.

Usage::

    from pbundle_backend import bind_call, emit, serve, is_packed

    @bind_call("api.echo")
    def echo(text: str) -> str:
        return text

    @bind_call()                    # registered as "api.slow"
    async def slow(seconds: float = 0.1):
        await asyncio.sleep(seconds)
        return "done"

    if __name__ == "__main__":
        serve()

Handlers run concurrently (sync handlers in a thread pool, async handlers on
one event loop), so a slow call does not hold the others. stdout carries only
the protocol: serve() moves the real stdout aside and points file descriptor 1
at stderr, so a stray print() (or a child process writing to its stdout) ends
up in the log instead of corrupting the protocol.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import signal
import sys
import threading

# asyncio (with ssl, logging and concurrent.futures behind it) costs about 100 ms
# to import: it is loaded only when an async handler runs, so a backend without
# them starts fast.
_CO_COROUTINE_FLAGS = 0x80 | 0x100  # CO_COROUTINE | CO_ITERABLE_COROUTINE


def _is_async(func) -> bool:
    code = getattr(func, "__code__", None)
    return bool(code is not None and code.co_flags & _CO_COROUTINE_FLAGS)


class _Pool:
    """A lazily grown thread pool: a thread per concurrent call, up to max_workers, reused."""

    def __init__(self, max_workers: int) -> None:
        self._max = max_workers
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def submit(self, fn, *args) -> None:
        with self._lock:
            spawn = self._idle == 0 and self._threads < self._max
            if spawn:
                self._threads += 1
            else:
                self._idle -= 1
        self._tasks.put((fn, args))
        if spawn:
            threading.Thread(target=self._work, name="pbundle-call", daemon=True).start()

    def _work(self) -> None:
        while True:
            fn, args = self._tasks.get()
            try:
                fn(*args)
            finally:
                with self._lock:
                    self._idle += 1

__all__ = [
    "Backend",
    "BackendError",
    "bind_call",
    "call_host",
    "default_backend",
    "emit",
    "examples_dir",
    "is_packed",
    "resources_dir",
    "serve",
]

__version__ = "0.1.0"

#: Whether the app runs from a pbundle (or auroraview) bundle, read once at import.
_PACKED = os.environ.get("AURORAVIEW_PACKED", "0") == "1" or os.environ.get(
    "PBUNDLE_PACKED", "0"
) == "1"


def _keep_packed_flag_from_children() -> None:
    """Keep AURORAVIEW_PACKED from the processes the backend starts.

    The app itself still sees it in os.environ (the packing document's way to
    detect packed mode), but it leaves the process environment that children
    inherit by default, and subprocess calls that pass env=os.environ get a
    copy without it. (A copy the app makes itself, os.environ.copy(), keeps it.)
    """
    import subprocess

    if "AURORAVIEW_PACKED" not in os.environ:
        return
    os.unsetenv("AURORAVIEW_PACKED")
    original_init = subprocess.Popen.__init__

    def init(self, *args, **kwargs):
        if kwargs.get("env") is os.environ:
            kwargs["env"] = {k: v for k, v in os.environ.items() if k != "AURORAVIEW_PACKED"}
        original_init(self, *args, **kwargs)

    subprocess.Popen.__init__ = init


def is_packed() -> bool:
    """Return True when running inside a packed bundle (AURORAVIEW_PACKED=1)."""
    return _PACKED


def resources_dir() -> str | None:
    """Return the bundle's resources/ directory (AURORAVIEW_RESOURCES_DIR), or None."""
    return os.environ.get("AURORAVIEW_RESOURCES_DIR") or None


def examples_dir() -> str | None:
    """Return resources/examples (AURORAVIEW_EXAMPLES_DIR) when the bundle has one, or None."""
    return os.environ.get("AURORAVIEW_EXAMPLES_DIR") or None


def _debug_enabled() -> bool:
    return os.environ.get("PBUNDLE_LOG", "").lower() in ("debug", "trace")


def _call_timeout() -> float | None:
    """Seconds serve() waits at the end of stdin for handlers still running (None: no limit).

    The host passes [python.process] call_timeout_ms as PBUNDLE_CALL_TIMEOUT_MS; 0 means no limit.
    """
    try:
        ms = int(os.environ.get("PBUNDLE_CALL_TIMEOUT_MS", "30000"))
    except ValueError:
        ms = 30000
    return ms / 1000 if ms > 0 else None


class BackendError(Exception):
    """Raise from a handler to send a clean error message (no traceback is logged)."""


class Backend:
    """A registry of handlers plus the loop that serves them over stdin/stdout.

    Most apps use the module-level default through bind_call() and serve().
    """

    def __init__(self, max_workers: int | None = None) -> None:
        self._handlers: dict[str, object] = {}
        self._max_workers = max_workers or int(os.environ.get("PBUNDLE_BACKEND_WORKERS", "128"))
        self._out = None
        self._out_lock = threading.Lock()
        self._pending_host: dict[str, list] = {}
        self._pending_lock = threading.Lock()
        self._host_ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._serving = False
        self._early_events: list[bytes] = []
        self._in_flight = 0
        self._idle = threading.Condition()

    # -- registration -------------------------------------------------------------

    def bind_call(self, name: str | None = None, func=None):
        """Register a handler. Use as @bind_call("api.name"), @bind_call() or bind_call("api.name", f).

        Without a name the handler is registered as "api.<function name>". params
        that are an object become keyword arguments, a list becomes positional
        arguments, null or absent means no arguments.
        """
        if callable(name) and func is None:
            # @bind_call used without parentheses
            func, name = name, None

        def register(f):
            method = name or f"api.{f.__name__}"
            if method in self._handlers:
                raise ValueError(f"Cannot register {method!r}: a handler with that name exists")
            self._handlers[method] = f
            return f

        return register(func) if func is not None else register

    def methods(self) -> list[str]:
        """Return the names of the registered handlers, sorted."""
        return sorted(self._handlers)

    # -- output ---------------------------------------------------------------------

    def _write(self, message: dict) -> None:
        line = json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=_json_default)
        data = line.encode("utf-8") + b"\n"
        if self._out is None:
            self._early_events.append(data)
            return
        with self._out_lock:
            self._out.write(data)
            self._out.flush()

    def emit(self, event: str, data=None) -> None:
        """Send an event to the frontend: {"event": event, "data": data}. Thread-safe."""
        if not isinstance(event, str) or not event:
            raise ValueError("Cannot emit an event without a name")
        self._write({"event": event, "data": data})

    def call_host(self, method: str, params=None, timeout: float | None = 30.0):
        """Call a method of the host (its plugins), wait for the answer and return its result.

        Raises BackendError with the host's message when the host answers ok=false,
        and TimeoutError when no answer comes within timeout seconds.
        """
        if self._out is None:
            raise BackendError("Cannot call the host: serve() is not running")
        call_id = f"b{next(self._host_ids)}"
        waiter = [threading.Event(), None]
        with self._pending_lock:
            self._pending_host[call_id] = waiter
        self._write({"id": call_id, "method": method, "params": params})
        if not waiter[0].wait(timeout):
            with self._pending_lock:
                self._pending_host.pop(call_id, None)
            raise TimeoutError(f"Cannot call host method {method!r}: no answer in {timeout} s")
        answer = waiter[1]
        if answer.get("ok"):
            return answer.get("result")
        raise BackendError(str(answer.get("error")))

    # -- serving --------------------------------------------------------------------

    def serve(self) -> int:
        """Serve requests from stdin until it closes; return 0.

        Takes over stdout for the protocol (fd 1 then points at stderr), announces
        the handlers with a pbundle.ready event, and answers each request from a
        worker thread (sync handlers) or the event loop thread (async handlers).
        When stdin closes, waits for the handlers still running (at most the call
        timeout, PBUNDLE_CALL_TIMEOUT_MS) so their answers are written.
        """
        if self._serving:
            raise RuntimeError("Cannot serve: already serving")
        self._serving = True
        stdin = sys.stdin.buffer
        self._out = _take_stdout()
        for data in self._early_events:
            self._out.write(data)
        self._early_events.clear()

        pool = _Pool(self._max_workers)
        self._write(
            {
                "event": "pbundle.ready",
                "data": {
                    "methods": self.methods(),
                    "pid": os.getpid(),
                    "python": sys.version.split()[0],
                    "packed": _PACKED,
                },
            }
        )
        try:
            for raw in stdin:
                self._dispatch_line(raw, pool)
            self._wait_idle(_call_timeout())
        except KeyboardInterrupt:
            pass
        finally:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
        return 0

    def _wait_idle(self, timeout: float | None) -> None:
        """Wait until no handler runs, or timeout seconds; log the calls given up on."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._in_flight == 0, timeout):
                _log(
                    f"warning: stdin closed; {self._in_flight} call(s) still running after "
                    f"{timeout} s are not answered"
                )

    def _event_loop(self):
        """The event loop of async handlers, started on first use in its own thread."""
        with self._out_lock:
            if self._loop is None:
                import asyncio

                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="pbundle-async", daemon=True).start()
                self._loop = loop
        return self._loop

    def _dispatch_line(self, raw: bytes, pool) -> None:
        raw = raw.strip()
        if not raw:
            return
        try:
            message = json.loads(raw)
        except ValueError as error:
            _log(f"warning: ignoring a line that is not JSON: {error}")
            return
        if not isinstance(message, dict):
            _log("warning: ignoring a line that is not a JSON object")
            return
        call_id = message.get("id")
        if "ok" in message and call_id is not None:
            # The host answering a call_host() request.
            with self._pending_lock:
                waiter = self._pending_host.pop(str(call_id), None)
            if waiter is not None:
                waiter[1] = message
                waiter[0].set()
            return
        method = message.get("method")
        if call_id is None or not isinstance(method, str):
            _log("warning: ignoring a request without id or method")
            if call_id is not None:
                self._write({"id": call_id, "ok": False, "error": "Invalid request: no method"})
            return
        if method == "pbundle.methods":
            self._write({"id": call_id, "ok": True, "result": self.methods()})
            return
        handler = self._handlers.get(method)
        if handler is None:
            self._write({"id": call_id, "ok": False, "error": f"Unknown method {method!r}"})
            return
        params = message.get("params")
        with self._idle:
            self._in_flight += 1
        if _is_async(handler):
            import asyncio

            future = asyncio.run_coroutine_threadsafe(
                _call_async(handler, params), self._event_loop()
            )
            future.add_done_callback(lambda f: self._finish(call_id, method, f.result))
        else:
            pool.submit(self._run_sync, call_id, method, handler, params)

    def _run_sync(self, call_id, method: str, handler, params) -> None:
        def result():
            value = _call_sync(handler, params)
            if hasattr(value, "__await__"):
                import asyncio

                return asyncio.run_coroutine_threadsafe(_await(value), self._event_loop()).result()
            return value

        self._finish(call_id, method, result)

    def _finish(self, call_id, method: str, get_result) -> None:
        try:
            self._answer(call_id, method, get_result)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _answer(self, call_id, method: str, get_result) -> None:
        try:
            result = get_result()
        except BackendError as error:
            self._write({"id": call_id, "ok": False, "error": str(error)})
            return
        except BaseException as error:  # noqa: BLE001 - every failure becomes an error response
            message = f"{type(error).__name__}: {error}"
            _log(f"error: {method} failed: {message}")
            if _debug_enabled():
                import traceback

                traceback.print_exception(error, file=sys.stderr)
            self._write({"id": call_id, "ok": False, "error": message})
            return
        try:
            self._write({"id": call_id, "ok": True, "result": result})
        except (TypeError, ValueError) as error:
            self._write(
                {"id": call_id, "ok": False, "error": f"Cannot encode the result of {method}: {error}"}
            )


_PROTOCOL_OUT = None


def _take_stdout():
    """Keep a private handle on the real stdout for the protocol and point fd 1 at stderr.

    Idempotent. After this, print() and child processes write to stderr (the log).
    """
    global _PROTOCOL_OUT
    if _PROTOCOL_OUT is None:
        sys.stdout.flush()
        out_fd = os.dup(1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        _PROTOCOL_OUT = os.fdopen(out_fd, "wb", buffering=0)
    return _PROTOCOL_OUT


def _json_default(value):
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "__fspath__"):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _args(params):
    if params is None:
        return (), {}
    if isinstance(params, dict):
        return (), params
    if isinstance(params, list):
        return tuple(params), {}
    return (params,), {}


def _call_sync(handler, params):
    args, kwargs = _args(params)
    return handler(*args, **kwargs)


async def _await(awaitable):
    return await awaitable


async def _call_async(handler, params):
    args, kwargs = _args(params)
    return await handler(*args, **kwargs)


def _log(message: str) -> None:
    try:
        sys.stderr.write(f"pbundle_backend: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


default_backend = Backend()
"""The Backend that the module-level functions use."""


def bind_call(name: str | None = None, func=None):
    """Register a handler on the default backend (see Backend.bind_call)."""
    return default_backend.bind_call(name, func)


def emit(event: str, data=None) -> None:
    """Send an event to the frontend from any thread (see Backend.emit)."""
    default_backend.emit(event, data)


def call_host(method: str, params=None, timeout: float | None = 30.0):
    """Call a host method (see Backend.call_host)."""
    return default_backend.call_host(method, params, timeout)


def serve() -> int:
    """Serve the default backend's handlers on stdin/stdout until stdin closes."""
    return default_backend.serve()


#: The bootstrap's exit status when the entry point cannot be imported or found:
#: the host does not restart a backend that exits with it before it is ready.
IMPORT_FAILED = 3


def _log_missing_import(error: ModuleNotFoundError, importer: str) -> None:
    """Log a module missing for the entry point, naming it, where it is imported, and the fix."""
    import traceback

    where = ""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith("<")]
    if frames:
        where = f" (at {frames[-1].filename!r}, line {frames[-1].lineno})"
    _log(
        f"error: Cannot import module {error.name!r}, imported by {importer}{where}: {error}; "
        f"sys.path is {sys.path!r} (add the package that provides it to [python] packages, "
        "or its directory to [python.process] module_search_paths)"
    )


def _bootstrap(argv: list[str]) -> int:
    """Run an app's entry point the way the pbundle host does (python -m pbundle_backend KIND TARGET).

    KIND is "module" (TARGET is module:function) or "file" (TARGET is a path to
    a .py or .pyc file). When the entry returns without having called serve()
    and handlers are registered, serve() runs then. When stdin closes, the whole
    process group (the backend and what it started) is stopped, so a host that
    dies without cleaning up leaves no orphans.
    """
    import importlib

    if len(argv) < 2 or argv[0] not in ("module", "file"):
        _log("usage: python -m pbundle_backend module|file TARGET [ARGS...]")
        return 2
    kind, target, rest = argv[0], argv[1], argv[2:]
    _take_stdout()
    _keep_packed_flag_from_children()
    code = 0
    if kind == "module":
        module_name, _, function_name = target.partition(":")
        sys.argv = [module_name, *rest]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            missing = error.name or ""
            if missing == module_name or module_name.startswith(f"{missing}."):
                _log(
                    f"error: Cannot import entry module {module_name!r}: {error}; "
                    f"sys.path is {sys.path!r} (check [python] entry_point, include_paths and "
                    "[python.process] module_search_paths)"
                )
            else:
                _log_missing_import(error, f"the entry module {module_name!r}")
            return IMPORT_FAILED
        function = getattr(module, function_name or "main", None)
        if function is None:
            _log(f"error: Cannot find function {function_name!r} in module {module_name!r}")
            return IMPORT_FAILED
        result = function()
        if hasattr(result, "__await__"):
            import asyncio

            result = asyncio.run(_await(result))
        code = result if isinstance(result, int) else 0
    else:
        sys.argv = [target, *rest]
        if not os.path.exists(target):
            _log(f"error: Cannot find entry file {target!r}")
            return IMPORT_FAILED
        import runpy

        try:
            runpy.run_path(target, run_name="__main__")
        except ModuleNotFoundError as error:
            if default_backend._serving:
                raise
            _log_missing_import(error, f"the entry file {target!r}")
            return IMPORT_FAILED
    if not default_backend._serving and default_backend.methods():
        code = default_backend.serve()
    return code


def _stop_group() -> None:
    """Stop the rest of our process group when we lead it (the host starts us as leader)."""
    try:
        if os.getpgrp() == os.getpid():
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            os.killpg(os.getpgrp(), signal.SIGTERM)
    except OSError:
        pass

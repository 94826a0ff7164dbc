"""The YAML viewer's backend: handlers the frontend calls through the pbundle host."""

import os
import sys
import time
from pathlib import Path

import yaml

from pbundle_backend import bind_call, emit, examples_dir, is_packed, resources_dir, serve


def _samples_dir() -> Path:
    # Packed: resources/examples, collected by [[hooks.collect]].
    # pbundle dev: the same files, collected into a temporary resources directory.
    found = examples_dir() or os.path.join(resources_dir() or ".", "examples")
    return Path(found)


@bind_call("api.list_samples")
def list_samples() -> list:
    """Names of the YAML samples."""
    return sorted(p.name for p in _samples_dir().glob("*.yaml"))


@bind_call("api.get_sample")
def get_sample(name: str) -> dict:
    """One sample, parsed."""
    path = _samples_dir() / name
    if path.parent != _samples_dir() or not path.is_file():
        raise ValueError(f"no sample named {name!r}")
    return {"name": name, "data": yaml.safe_load(path.read_text(encoding="utf-8"))}


@bind_call("api.parse_yaml")
def parse_yaml(text: str):
    """Parses YAML text from the page."""
    return yaml.safe_load(text)


@bind_call("api.echo")
def echo(text: str = "") -> str:
    return text


@bind_call("api.sleep")
def sleep(seconds: float = 0.1) -> float:
    """Waits without holding other calls (handlers run concurrently)."""
    time.sleep(seconds)
    return seconds


@bind_call("api.count")
def count(to: int = 3) -> int:
    """Sends a "count" event per step, then answers."""
    for i in range(1, to + 1):
        emit("count", {"value": i})
    return to


@bind_call("api.info")
def info() -> dict:
    """Where and how the backend runs (the tests check this)."""
    return {
        "packed": is_packed(),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "optimize": sys.flags.optimize,
        "yaml": yaml.__version__,
        "libyaml": bool(getattr(yaml, "__with_libyaml__", False)),
        "yaml_file": getattr(yaml, "__file__", None),
        "main_file": __file__,
        "resources_dir": resources_dir(),
        "examples_dir": examples_dir(),
        "env": {k: v for k, v in os.environ.items() if k.startswith(("AURORAVIEW_", "APP_", "SAMPLES_", "PYTHON"))},
        "path": os.environ.get("PATH", ""),
        "sys_path": sys.path,
        "cwd": os.getcwd(),
        "argv": sys.argv[1:],
        "docstrings": list_samples.__doc__ is not None,
        "main_source_shipped": os.path.exists(os.path.splitext(__file__)[0] + ".py"),
    }


def run() -> None:
    print(f"yaml-viewer backend starting (packed={is_packed()})", file=sys.stderr)
    serve()

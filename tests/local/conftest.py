"""Helpers for tests that drive the `headwater` command on this machine."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from headwater.kubeyaml import dump_all


@dataclass
class Completed:
    code: int
    stdout: str
    stderr: str

    def status(self) -> dict[str, Any]:
        return json.loads(self.stdout)


def headwater_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment `headwater` runs with in these tests."""
    return {**os.environ, "COLUMNS": "200", **(extra or {})}


def headwater(
    *args: str, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> Completed:
    done = subprocess.run(
        [sys.executable, "-m", "headwater", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=headwater_env(env),
    )
    return Completed(done.returncode, done.stdout, done.stderr)


def function(name: str, code: str, params: list[dict], outputs: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "headwater.dev/v1alpha1",
        "kind": "Function",
        "metadata": {"name": name},
        "spec": {
            "handler": name.replace("-", "_"),
            "code": {"inline": dedent(code)},
            "params": params,
            "outputs": outputs,
        },
    }


def dataflow(name: str, nodes: list[dict]) -> dict[str, Any]:
    return {
        "apiVersion": "headwater.dev/v1alpha1",
        "kind": "Dataflow",
        "metadata": {"name": name},
        "spec": {"nodes": nodes},
    }


def run(name: str, flow: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "headwater.dev/v1alpha1",
        "kind": "Run",
        "metadata": {"name": name},
        "spec": {"dataflow": flow, **spec},
    }


def write_manifests(folder: Path, documents: list[dict], name: str = "flow.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    # Quoted where kubectl would read a name like y as a boolean, as the SDK writes them.
    path.write_text(dump_all(documents))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return tmp_path

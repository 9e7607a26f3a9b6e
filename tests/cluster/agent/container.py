"""One container process: sandbox spec, start in its own process group, wait, stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

SANDBOX = Path(__file__).resolve().parent / "sandbox.py"
MESSAGE_LIMIT = 4096
FALLBACK_LINES = 80
FALLBACK_BYTES = 2048


def exit_code(returncode: int) -> int:
    """Shell convention: killed by signal N -> 128 + N, as container runtimes report."""
    return 128 - returncode if returncode < 0 else returncode


def log_tail(path: Path, lines: int = FALLBACK_LINES, limit: int = FALLBACK_BYTES) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    tail = b"\n".join(data.splitlines()[-lines:])[-limit:]
    return tail.decode(errors="replace")


# What stands in for the image: this interpreter's environment and the project's
# source tree. A volume mounted over a folder holding them (an emptyDir at /tmp when the
# checkout is under /tmp) must not hide them, so the sandbox binds them back.
HOST_PATHS = sorted({sys.prefix, str(Path(__file__).resolve().parents[3])})


class ContainerProcess:
    """A container's process tree; a new instance per (re)start."""

    def __init__(self, directory: Path, attempt: int) -> None:
        self.directory = directory
        self.log_path = directory / f"{attempt}.log"
        self.message_path = directory / "termination-log"
        self.spec_path = directory / f"{attempt}.spec.json"
        self.proc: asyncio.subprocess.Process | None = None
        self.returncode: int | None = None

    async def start(
        self,
        argv: list[str],
        env: dict[str, str],
        mounts: list[dict],
        working_dir: str | None,
        message_target: str,
    ) -> int:
        """Start the process; return its pid."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.message_path.write_bytes(b"")
        mounts = [*mounts, {"source": str(self.message_path), "target": message_target}]
        spec = {
            "mounts": mounts,
            "keep": HOST_PATHS,
            "workingDir": working_dir,
            "argv": argv,
            "env": env,
        }
        self.spec_path.write_text(json.dumps(spec))
        unshare = ["unshare", "--mount", "--propagation", "private"]
        if os.geteuid() != 0:
            unshare.append("--map-root-user")
        with open(self.log_path, "ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *unshare,
                "--",
                sys.executable,
                "-I",
                str(SANDBOX),
                str(self.spec_path),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **_marker(env)},
            )
        return self.proc.pid

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.returncode is None

    async def wait(self) -> int:
        assert self.proc is not None
        self.returncode = exit_code(await self.proc.wait())
        return self.returncode

    def signal(self, sig: signal.Signals) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    async def stop(self, grace: float) -> int:
        """SIGTERM the process group, SIGKILL after `grace` seconds; return the exit code."""
        if self.proc is None:
            return 0
        if self.returncode is None:
            self.signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.proc.wait()), timeout=max(grace, 0.01))
        self.signal(signal.SIGKILL)  # also reaps children left in the group
        return await self.wait()

    def termination_message(self, fallback_to_logs: bool) -> str:
        try:
            message = self.message_path.read_bytes()[:MESSAGE_LIMIT].decode(errors="replace")
        except OSError:
            message = ""
        if not message and fallback_to_logs and self.returncode:
            message = log_tail(self.log_path)
        return message


def _marker(env: dict[str, str]) -> dict[str, str]:
    key = "HEADWATER_CLUSTER"
    return {key: env[key]} if key in env else {}

"""PodWorker: one Pod's life on this node, from volumes to final status and deletion."""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import logging
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .api import Api, ApiError, Obj
from .config import AgentConfig
from .container import ContainerProcess
from .env import Lookup, base_env, container_env, expand
from .events import EventRecorder, reference
from .images import container_argv, pull_error, with_default_tag
from .status import TERMINAL, ContainerStatus, PodView, now, pod_status
from .volumes import MountFailed, VolumeBuilder, remove_pod_volumes

log = logging.getLogger(__name__)

BACKOFF_START = 1.0
BACKOFF_MAX = 30.0
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
# Failed volume set-ups and container configs are retried with a doubling delay. The
# kubelet's mount back-off grows to 2m2s; a test node stops at 10 s so tests recover fast.
RETRY_START = 0.5
RETRY_MAX = 10.0
# A failed pull shows ErrImagePull until the next pod sync, then ImagePullBackOff for
# the kubelet's image back-off: 10 s doubling to 300 s.
PULL_RESYNC = 3.0
PULL_BACKOFF_START = 10.0
PULL_BACKOFF_MAX = 300.0


@dataclass(frozen=True)
class AgentContext:
    """What every PodWorker shares."""

    config: AgentConfig
    api: Api
    marker: dict[str, str]
    events: EventRecorder


def _parse_time(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


class PodWorker:
    """Runs one Pod: volumes, init containers in order, containers, restarts, stop."""

    def __init__(self, ctx: AgentContext, pod: Obj, on_done: Callable[[PodWorker], None]) -> None:
        self.ctx = ctx
        self.pod = pod
        meta = pod["metadata"]
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.uid: str = meta["uid"]
        self.dir = ctx.config.pods_dir / f"{self.namespace}_{self.name}_{self.uid}"
        self.memory_dir = Path(ctx.config.tmpfs_dir) / self.uid
        spec = pod["spec"]
        self.init_statuses = [
            ContainerStatus(c["name"], c.get("image", "")) for c in spec.get("initContainers", [])
        ]
        self.statuses = [
            ContainerStatus(c["name"], c.get("image", "")) for c in spec.get("containers", [])
        ]
        if not self.init_statuses:
            for status in self.statuses:
                status.state = {"waiting": {"reason": "ContainerCreating"}}
        self.processes: dict[str, ContainerProcess] = {}
        self.phase = pod.get("status", {}).get("phase") or "Pending"
        self.reason: str | None = None
        self.message: str | None = None
        self.sandbox_ready = False
        self.initialized = not self.init_statuses
        self.start_time = pod.get("status", {}).get("startTime") or now()
        self.stop_requested = asyncio.Event()
        self.updated = asyncio.Event()
        self.gone = False
        self.changed = asyncio.Event()
        self._push_lock = asyncio.Lock()
        self._pushed: Obj | None = None
        self._on_done = on_done
        self.task: asyncio.Task[None] | None = None

    # --- inputs from the manager -------------------------------------------------------

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"pod {self.namespace}/{self.name}")

    def update(self, pod: Obj) -> None:
        self.pod = pod
        self.updated.set()
        if pod["metadata"].get("deletionTimestamp"):
            self.stop_requested.set()

    def remove(self) -> None:
        """The Pod no longer exists in the API."""
        self.gone = True
        self.stop_requested.set()

    # --- queries for the log server ---------------------------------------------------

    def log_file(self, container: str, previous: bool) -> Path | None:
        status = self._status(container)
        if status is None:
            return None
        attempt = status.restart_count - (1 if previous else 0)
        path = self.dir / "containers" / container / f"{attempt}.log"
        return path if attempt >= 0 and path.exists() else None

    def is_writing(self, container: str, path: Path) -> bool:
        proc = self.processes.get(container)
        return proc is not None and proc.running and proc.log_path == path

    def _status(self, name: str) -> ContainerStatus | None:
        return next((s for s in self.init_statuses + self.statuses if s.name == name), None)

    # --- lifecycle ---------------------------------------------------------------------

    async def _run(self) -> None:
        reporter = asyncio.create_task(self._report_loop())
        try:
            if self.phase not in TERMINAL and not self.stop_requested.is_set():
                await self._lifecycle()
            elif self.phase not in TERMINAL:
                self.phase = "Failed"
            await self.stop_requested.wait()
            if not self.gone:
                await self._push()
                await self._delete()
        except Exception:
            log.exception("pod %s/%s: worker failed", self.namespace, self.name)
        finally:
            reporter.cancel()
            remove_pod_volumes(self.dir, self.memory_dir)
            self._on_done(self)

    async def _lifecycle(self) -> None:
        self.mark()  # Pending, ContainerCreating: a kubelet reports the Pod at once
        main = asyncio.create_task(self._run_pod())
        stop = asyncio.create_task(self.stop_requested.wait())
        deadline = self.pod["spec"].get("activeDeadlineSeconds")
        timeout = None
        if deadline is not None:
            timeout = max(0.0, _parse_time(self.start_time) + deadline - time.time())
        done, _ = await asyncio.wait(
            {main, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        stop.cancel()
        if main in done:
            main.result()
            self.mark()
            return
        if not done:
            self.reason, self.message = "DeadlineExceeded", DEADLINE_MESSAGE
        main.cancel()
        await asyncio.gather(main, return_exceptions=True)
        await self._kill_all(self._grace())
        finished = [s.terminated for s in self.statuses]
        succeeded = all(t is not None and t["exitCode"] == 0 for t in finished)
        self.phase = "Succeeded" if succeeded and self.reason is None else "Failed"
        self.mark()

    def _grace(self) -> float:
        if self.gone:
            return 2.0
        meta, spec = self.pod["metadata"], self.pod["spec"]
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        return float(grace)

    async def _kill_all(self, grace: float) -> None:
        async def one(status: ContainerStatus, proc: ContainerProcess) -> None:
            code = await proc.stop(grace)
            if status.running:
                self._terminated(status, proc, code)

        pairs = [
            (s, self.processes[s.name])
            for s in self.init_statuses + self.statuses
            if s.name in self.processes
        ]
        await asyncio.gather(*(one(s, p) for s, p in pairs))
        for status in self.init_statuses + self.statuses:
            if "waiting" in status.state:
                status.state = {
                    "terminated": {
                        "exitCode": 137,
                        "reason": "ContainerStatusUnknown",
                        "message": "The container was never started",
                        "startedAt": None,
                        "finishedAt": now(),
                    }
                }

    async def _run_pod(self) -> None:
        volumes = await self._prepare_volumes()
        for status in self.init_statuses:
            if not await self._run_init(status, volumes):
                self.phase = "Failed"
                for waiting in self.statuses:
                    waiting.state = {"waiting": {"reason": "PodInitializing"}}
                return
        self.initialized = True
        for status in self.statuses:
            status.state = {"waiting": {"reason": "ContainerCreating"}}
        self.mark()
        codes = await asyncio.gather(*(self._run_container(s, volumes) for s in self.statuses))
        self.phase = "Succeeded" if all(code == 0 for code in codes) else "Failed"

    async def _prepare_volumes(self) -> dict[str, Path]:
        builder = VolumeBuilder(
            self.ctx.api,
            self.pod,
            self.dir,
            self.memory_dir,
            self.ctx.config.ca,
        )
        delay = RETRY_START
        while True:
            try:
                volumes = await builder.build()
            except (MountFailed, ApiError, OSError) as err:
                # As on a kubelet the containers stay ContainerCreating (PodInitializing)
                # with no message: the reason is in the FailedMount Event only.
                await self._event("Warning", "FailedMount", str(err))
                builder.lookup = Lookup(self.ctx.api, self.namespace)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            self.sandbox_ready = True
            self.mark()
            return volumes

    async def _event(
        self, kind: str, reason: str, message: str, container: str | None = None
    ) -> None:
        field_path = None
        if container is not None:
            is_init = any(s.name == container for s in self.init_statuses)
            field_path = f"spec.{'initContainers' if is_init else 'containers'}{{{container}}}"
        await self.ctx.events.emit(reference(self.pod, field_path), kind, reason, message)

    def _spec(self, container: str) -> Obj:
        """The container's current spec (its image may change while it waits)."""
        spec = self.pod["spec"]
        return next(
            c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == container
        )

    async def _pull(self, status: ContainerStatus) -> None:
        """Return once the container's image "pulls"; until then report the kubelet's
        ErrImagePull / ImagePullBackOff states and Events (see agent/images.py)."""
        backoff = PULL_BACKOFF_START
        while True:
            status.image = self._spec(status.name).get("image", "")
            error = pull_error(status.image)
            if error is None:
                return
            image = with_default_tag(status.image)
            await self._event("Normal", "Pulling", f'Pulling image "{image}"', status.name)
            failed = f'Failed to pull image "{image}": {error}'
            await self._event("Warning", "Failed", failed, status.name)
            status.state = {"waiting": {"reason": "ErrImagePull", "message": error}}
            self.mark()
            await self._event("Warning", "Failed", "Error: ErrImagePull", status.name)
            if await self._image_changed(status, PULL_RESYNC):
                continue
            message = f'Back-off pulling image "{image}"'
            await self._event("Normal", "BackOff", message, status.name)
            status.state = {
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": f"{message}: ErrImagePull: {error}",
                }
            }
            self.mark()
            await self._event("Warning", "Failed", "Error: ImagePullBackOff", status.name)
            if not await self._image_changed(status, backoff):
                backoff = min(backoff * 2, PULL_BACKOFF_MAX)

    async def _image_changed(self, status: ContainerStatus, seconds: float) -> bool:
        """Wait up to `seconds`; True as soon as the Pod's spec names another image."""
        deadline = asyncio.get_running_loop().time() + seconds
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            self.updated.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.updated.wait(), left)
            if self._spec(status.name).get("image", "") != status.image:
                return True
        return False

    async def _run_init(self, status: ContainerStatus, volumes: dict[str, Path]) -> bool:
        backoff = BACKOFF_START
        while True:
            code = await self._run_once(status, volumes)
            if code == 0:
                return True
            if self.pod["spec"].get("restartPolicy", "Always") == "Never":
                return False
            backoff = await self._back_off(status, backoff)

    async def _run_container(self, status: ContainerStatus, volumes: dict[str, Path]) -> int:
        policy = self.pod["spec"].get("restartPolicy", "Always")
        backoff = BACKOFF_START
        while True:
            began = time.monotonic()
            code = await self._run_once(status, volumes)
            if policy == "Never" or (policy == "OnFailure" and code == 0):
                return code
            if time.monotonic() - began > 2 * BACKOFF_MAX:
                backoff = BACKOFF_START
            backoff = await self._back_off(status, backoff)

    async def _back_off(self, status: ContainerStatus, backoff: float) -> float:
        status.last_state = status.state
        status.restart_count += 1
        status.state = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off {backoff:.0f}s restarting failed container={status.name} "
                f"pod={self.name}_{self.namespace}({self.uid})",
            }
        }
        self.mark()
        await asyncio.sleep(backoff)
        return min(backoff * 2, BACKOFF_MAX)

    async def _run_once(self, status: ContainerStatus, volumes: dict[str, Path]) -> int:
        status.state = {"waiting": {"reason": "ContainerCreating"}}
        self.mark()
        await self._pull(status)
        spec = self._spec(status.name)
        env = await self._environment(spec, status)
        argv = container_argv(spec)
        proc = ContainerProcess(self.dir / "containers" / status.name, status.restart_count)
        if argv is None:
            message = (
                f"image {spec.get('image')!r} has no known entrypoint on this test node; "
                "give the container a command (see tests/cluster/agent/images.py)"
            )
            proc.log_path.parent.mkdir(parents=True, exist_ok=True)
            proc.log_path.write_text(message + "\n")
            status.state = {
                "terminated": {
                    "exitCode": 128,
                    "reason": "StartError",
                    "message": message,
                    "startedAt": None,
                    "finishedAt": now(),
                }
            }
            self.mark()
            return 128
        argv = [expand(a, env) for a in argv]
        mounts = self._mounts(spec, volumes)
        self.processes[status.name] = proc
        status.pid = await proc.start(
            argv,
            env,
            mounts,
            spec.get("workingDir"),
            spec.get("terminationMessagePath", "/dev/termination-log"),
        )
        started = now()
        status.started = True
        status.state = {"running": {"startedAt": started}}
        self.mark()
        # On cancellation (deletion, deadline) the process keeps running: _kill_all stops
        # it gracefully. After a normal exit the rest of its process group goes too.
        code = await proc.wait()
        proc.signal(signal.SIGKILL)
        self._terminated(status, proc, code, started)
        return code

    def _terminated(
        self, status: ContainerStatus, proc: ContainerProcess, code: int, started: str | None = None
    ) -> None:
        policy = self._spec(status.name).get("terminationMessagePolicy")
        fallback = policy == "FallbackToLogsOnError"
        terminated: Obj = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": started or status.state.get("running", {}).get("startedAt"),
            "finishedAt": now(),
        }
        if status.pid is not None:
            terminated["containerID"] = f"headwater://{status.pid}"
        message = proc.termination_message(fallback)
        if message:
            terminated["message"] = message
        status.state = {"terminated": terminated}
        self.mark()

    async def _environment(self, spec: Obj, status: ContainerStatus) -> dict[str, str]:
        base = base_env(self.pod, self.ctx.config.apiserver_port, self.ctx.marker)
        delay = RETRY_START
        while True:
            try:
                return await container_env(
                    self.pod, spec, base, Lookup(self.ctx.api, self.namespace)
                )
            except (LookupError, ApiError, ValueError) as err:
                status.state = {
                    "waiting": {"reason": "CreateContainerConfigError", "message": str(err)}
                }
                self.mark()
                await self._event("Warning", "Failed", f"Error: {err}", status.name)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)

    def _mounts(self, spec: Obj, volumes: dict[str, Path]) -> list[dict]:
        mounts = []
        for mount in spec.get("volumeMounts", []):
            source = volumes[mount["name"]]
            if mount.get("subPath"):
                source = source / mount["subPath"]
                if not source.exists():
                    source.mkdir(parents=True)
            mounts.append(
                {
                    "source": str(source),
                    "target": mount["mountPath"],
                    "readOnly": bool(mount.get("readOnly")),
                }
            )
        return mounts

    # --- status reporting --------------------------------------------------------------

    def mark(self) -> None:
        """Note that the status changed; the reporter pushes it soon."""
        self.changed.set()

    def view(self) -> PodView:
        phase = self.phase
        if phase not in TERMINAL:
            phase = (
                "Running"
                if self.initialized and any(s.started for s in self.statuses)
                else "Pending"
            )
        return PodView(
            phase=phase,
            start_time=self.start_time,
            sandbox_ready=self.sandbox_ready,
            initialized=self.initialized,
            init_containers=self.init_statuses,
            containers=self.statuses,
            reason=self.reason,
            message=self.message,
        )

    async def _report_loop(self) -> None:
        while True:
            await self.changed.wait()
            self.changed.clear()
            try:
                await self._push()
            except Exception as err:
                log.warning("pod %s/%s: status update failed: %s", self.namespace, self.name, err)
                await asyncio.sleep(0.5)
                self.changed.set()

    async def _push(self) -> None:
        async with self._push_lock:
            status = pod_status(self.view(), self.pod.get("status", {}))
            if status == self._pushed or self.gone:
                return
            path = f"/api/v1/namespaces/{self.namespace}/pods/{self.name}/status"
            try:
                self.pod = await self.ctx.api.merge_patch(
                    path, {"metadata": {"uid": self.uid}, "status": status}
                )
            except ApiError as err:
                if err.status == 404:
                    return
                raise
            self._pushed = status

    async def _delete(self) -> None:
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}}
        path = f"/api/v1/namespaces/{self.namespace}/pods/{self.name}"
        for _ in range(20):
            try:
                await self.ctx.api.delete(path, body)
                return
            except ApiError as err:
                if err.status in (404, 409):
                    return
                log.warning("pod %s/%s: delete failed: %s", self.namespace, self.name, err)
            await asyncio.sleep(0.5)

    def cleanup_logs(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

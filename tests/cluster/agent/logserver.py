"""The kubelet's container log endpoint, over TLS, so `kubectl logs` (and -f) works."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from aiohttp import web

from .config import AgentConfig
from .manager import PodManager

CHUNK = 64 * 1024
POLL = 0.1


def _tail_offset(path: Path, lines: int) -> int:
    """Offset in `path` where its last `lines` lines start."""
    data = path.read_bytes()
    if lines <= 0:
        return len(data)
    end = len(data) - 1 if data.endswith(b"\n") else len(data)
    offset = end
    for _ in range(lines):
        offset = data.rfind(b"\n", 0, offset)
        if offset < 0:
            return 0
    return offset + 1


class LogServer:
    """Serves /containerLogs/{namespace}/{pod}/{container} to the API server."""

    def __init__(self, config: AgentConfig, manager: PodManager) -> None:
        self.config = config
        self.manager = manager
        self.runner: web.AppRunner | None = None

    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=self.config.ca)
        ctx.load_cert_chain(self.config.serving_cert, self.config.serving_key)
        ctx.verify_mode = ssl.CERT_REQUIRED  # only clients with a cluster CA cert
        return ctx

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self.logs)
        app.router.add_get("/healthz", self.healthz)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(
            self.runner, "127.0.0.1", self.config.kubelet_port, ssl_context=self._ssl()
        )
        await site.start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def logs(self, request: web.Request) -> web.StreamResponse:
        info = request.match_info
        query = request.query
        worker = self.manager.find(info["namespace"], info["pod"])
        if worker is None:
            raise web.HTTPNotFound(text=f"pod {info['namespace']}/{info['pod']} not found")
        previous = query.get("previous") == "true"
        path = worker.log_file(info["container"], previous)
        if path is None:
            raise web.HTTPBadRequest(
                text=f'container "{info["container"]}" in pod "{info["pod"]}" has no logs yet'
            )
        follow = query.get("follow") == "true"
        limit = int(query["limitBytes"]) if "limitBytes" in query else None
        offset = _tail_offset(path, int(query["tailLines"])) if "tailLines" in query else 0
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        sent = 0
        with open(path, "rb") as handle:
            handle.seek(offset)
            while limit is None or sent < limit:
                chunk = handle.read(CHUNK if limit is None else min(CHUNK, limit - sent))
                if chunk:
                    await response.write(chunk)
                    sent += len(chunk)
                    continue
                if not (follow and worker.is_writing(info["container"], path)):
                    break
                await asyncio.sleep(POLL)
            rest = handle.read(CHUNK) if follow and (limit is None or sent < limit) else b""
            if rest:
                await response.write(rest if limit is None else rest[: limit - sent])
        await response.write_eof()
        return response

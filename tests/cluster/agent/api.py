"""A small asyncio client for the Kubernetes REST API, authenticated by client cert."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class ApiError(Exception):
    """A non-2xx answer from the API server."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status
        self.body = body


class Api:
    """JSON requests and list+watch against one API server as one identity."""

    def __init__(self, server: str, ca: str, cert: str, key: str) -> None:
        self.server = server.rstrip("/")
        self._ssl = ssl.create_default_context(cafile=ca)
        self._ssl.load_cert_chain(cert, key)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=50)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        body: Obj | None = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        try:
            async with self.session.request(
                method,
                self.server + path,
                data=data,
                params=params,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=30),
            ) as resp:
                text = await resp.text()
        except aiohttp.ClientError as err:
            if isinstance(err, OSError):
                raise
            # A server that went away mid-request (a restart): as unavailable as a 503,
            # so every caller that retries on ApiError retries this too, as a kubelet does.
            raise ApiError(503, f"the API server did not answer: {err!r}") from err
        if resp.status >= 300:
            raise ApiError(resp.status, text)
        return json.loads(text) if text else {}

    async def get(self, path: str, params: dict[str, str] | None = None) -> Obj:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, body: Obj) -> Obj:
        return await self.request("POST", path, body)

    async def put(self, path: str, body: Obj) -> Obj:
        return await self.request("PUT", path, body)

    async def merge_patch(self, path: str, body: Obj) -> Obj:
        return await self.request("PATCH", path, body, content_type="application/merge-patch+json")

    async def strategic_patch(self, path: str, body: Obj) -> Obj:
        return await self.request(
            "PATCH", path, body, content_type="application/strategic-merge-patch+json"
        )

    async def delete(self, path: str, body: Obj | None = None) -> Obj:
        return await self.request("DELETE", path, body)

    async def list_watch(
        self,
        path: str,
        params: dict[str, str],
        on_list: Callable[[list[Obj]], Awaitable[None]],
        on_event: Callable[[str, Obj], Awaitable[None]],
    ) -> None:
        """List then watch `path` forever, relisting after errors or expiry (level-triggered)."""
        while True:
            try:
                listed = await self.get(path, params)
                await on_list(listed.get("items", []))
                version = listed["metadata"]["resourceVersion"]
                while True:
                    version = await self._watch(path, params, version, on_event)
            except asyncio.CancelledError:
                raise
            except _Expired:
                continue
            except Exception as err:
                log.warning("list/watch %s failed: %s", path, err)
                await asyncio.sleep(1)

    async def _watch(
        self,
        path: str,
        params: dict[str, str],
        version: str,
        on_event: Callable[[str, Obj], Awaitable[None]],
    ) -> str:
        query = dict(
            params,
            watch="true",
            resourceVersion=version,
            allowWatchBookmarks="true",
            timeoutSeconds="60",
        )
        async with self.session.get(
            self.server + path,
            params=query,
            timeout=aiohttp.ClientTimeout(total=None, sock_read=90),
        ) as resp:
            if resp.status == 410:
                raise _Expired
            if resp.status >= 300:
                raise ApiError(resp.status, await resp.text())
            async for line in resp.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event.get("object", {})
                if event["type"] == "ERROR":
                    raise (
                        _Expired
                        if obj.get("code") == 410
                        else ApiError(obj.get("code", 0), str(obj))
                    )
                version = obj.get("metadata", {}).get("resourceVersion", version)
                if event["type"] != "BOOKMARK":
                    await on_event(event["type"], obj)
        return version


class _Expired(Exception):
    """The watch's resourceVersion is too old: relist."""

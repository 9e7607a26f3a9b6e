"""The node agent's API client: a server that drops the connection mid-request (an API
server restarting) is an ApiError, which the agent's loops retry, not a crash of the
Pod's worker that left it ContainerCreating for ever."""

from __future__ import annotations

import asyncio
import ssl
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))
from agent.api import Api, ApiError
from controlplane.certs import make_pki


async def _drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1)  # the request has begun
    writer.close()


def test_a_connection_dropped_mid_request_is_an_api_error(tmp_path: Path) -> None:
    pki = make_pki(tmp_path, "node")
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(pki.apiserver.cert, pki.apiserver.key)

    async def scenario() -> ApiError:
        server = await asyncio.start_server(_drop, "127.0.0.1", 0, ssl=serving)
        port = server.sockets[0].getsockname()[1]
        api = Api(
            f"https://127.0.0.1:{port}",
            str(pki.ca.cert),
            str(pki.node_client.cert),
            str(pki.node_client.key),
        )
        try:
            with pytest.raises(ApiError) as raised:
                await api.get("/api/v1/namespaces/default/configmaps/x")
            return raised.value
        finally:
            await api.close()
            server.close()
            await server.wait_closed()

    error = asyncio.run(scenario())
    assert error.status == 503
    assert "did not answer" in str(error)

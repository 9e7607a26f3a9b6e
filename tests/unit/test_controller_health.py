"""The health endpoints as the kubelet sees them: a real HTTP server on a free port,
driven by how long the longest reconcile has been running."""

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from headwater.controller.health import STUCK_SECONDS, HealthServer


class Busy:
    """The workers' longest reconcile, set by the test."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


@pytest.fixture
def served() -> Iterator[tuple[HealthServer, Busy]]:
    busy = Busy()
    server = HealthServer("127.0.0.1", 0, busy)
    server.start()
    try:
        yield server, busy
    finally:
        server.stop()


def get(server: HealthServer, path: str) -> tuple[int, dict]:
    host, port = server.server.server_address[:2]
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        return error.code, json.loads(body) if error.code != 404 else {}


def test_a_standby_is_alive_but_not_ready(served: tuple[HealthServer, Busy]) -> None:
    server, _ = served
    assert get(server, "/healthz") == (200, {"role": "standby", "longestReconcileSeconds": 0.0})
    assert get(server, "/readyz")[0] == 503


def test_the_leader_is_ready_once_its_cache_is_filled(served: tuple[HealthServer, Busy]) -> None:
    server, busy = served
    server.role = "leader"
    assert get(server, "/readyz")[0] == 503
    server.ready.set()
    busy.seconds = 12.34
    assert get(server, "/readyz") == (200, {"role": "leader", "longestReconcileSeconds": 12.3})
    assert get(server, "/healthz?verbose=1")[0] == 200, "a query string is ignored"


def test_a_reconcile_stuck_for_the_limit_fails_both_probes(
    served: tuple[HealthServer, Busy],
) -> None:
    server, busy = served
    server.role = "leader"
    server.ready.set()
    busy.seconds = STUCK_SECONDS - 0.1
    assert get(server, "/healthz")[0] == 200
    assert get(server, "/readyz")[0] == 200
    busy.seconds = STUCK_SECONDS
    assert get(server, "/healthz") == (503, {"role": "leader", "longestReconcileSeconds": 300.0})
    assert get(server, "/readyz")[0] == 503
    busy.seconds = 0.0  # it came unstuck
    assert get(server, "/healthz")[0] == 200


def test_the_stuck_limit_is_five_minutes() -> None:
    assert STUCK_SECONDS == 300.0


def test_other_paths_are_not_found(served: tuple[HealthServer, Busy]) -> None:
    server, _ = served
    assert get(server, "/metrics")[0] == 404
    assert get(server, "/healthz/extra")[0] == 404

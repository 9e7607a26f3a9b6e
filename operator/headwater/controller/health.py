"""Health endpoints. /healthz (liveness) answers 200 while the operator works, standby
replicas included, and 503 once a reconcile has been stuck for longer than
`STUCK_SECONDS`, so that a wedged operator is restarted instead of looking healthy while
it does nothing. /readyz answers 200 only on the leader once its cache is filled and it
reconciles: which replica is at work, and when a started operator may be given work."""

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STUCK_SECONDS = 300.0


class HealthServer:
    def __init__(self, host: str, port: int, longest_busy: Callable[[], float]) -> None:
        self.longest_busy = longest_busy
        self.role = "standby"
        self.ready = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path not in ("/healthz", "/readyz"):
                    self.send_error(404)
                    return
                busy = owner.longest_busy()
                healthy = busy < STUCK_SECONDS
                if path == "/readyz":
                    healthy = healthy and owner.ready.is_set()
                body = json.dumps({"role": owner.role, "longestReconcileSeconds": round(busy, 1)})
                self.send_response(200 if healthy else 503)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, format: str, *args: object) -> None:
                pass  # probes every few seconds are not news

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="headwater-health", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

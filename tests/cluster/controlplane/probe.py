"""Tiny HTTPS client with a client certificate, for readiness polling."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from .certs import Pair


def context(ca: Pair, identity: Pair) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca.cert))
    ctx.load_cert_chain(str(identity.cert), str(identity.key))
    return ctx


def get(url: str, ctx: ssl.SSLContext | None = None, timeout: float = 2.0) -> tuple[int, bytes]:
    """GET `url`; return (status, body), with status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except (OSError, ssl.SSLError):
        return 0, b""


def get_json(url: str, ctx: ssl.SSLContext, timeout: float = 2.0) -> Any:
    status, body = get(url, ctx, timeout)
    return json.loads(body) if status == 200 else None

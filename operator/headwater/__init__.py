"""headwater: dataflows of Python functions over datasets, on Kubernetes or a laptop.

    import headwater
    client = headwater.Client.local()          # or headwater.Client.cluster("team-a")
    fns = headwater.functions_from_file("preprocessing.py")

The Python API (headwater.sdk) is loaded when first used: a node's runner, which
imports this package, does not pay for it."""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_SDK = (
    "CachedResult",
    "Client",
    "Dataflow",
    "Function",
    "Functions",
    "HeadwaterError",
    "InvalidManifests",
    "NoOperator",
    "Node",
    "NotFound",
    "RunCancelled",
    "RunFailed",
    "RunHandle",
    "UnportableFunction",
    "dataset",
    "function",
    "functions_from_file",
    "to_yaml",
)
__all__ = ["__version__", *_SDK]


def __getattr__(name: str) -> Any:
    if name in _SDK:
        return getattr(import_module("headwater.sdk"), name)
    raise AttributeError(f"module 'headwater' has no attribute {name!r}")

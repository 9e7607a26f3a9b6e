"""The Python API: build Functions and Dataflows from Python, apply them, submit Runs and
follow them, locally or in a cluster (`headwater.Client`). Re-exported by `headwater`."""

from headwater.sdk.backend import CachedResult
from headwater.sdk.builders import (
    Dataflow,
    Function,
    Functions,
    Node,
    dataset,
    function,
    functions_from_file,
    to_yaml,
)
from headwater.sdk.callables import UnportableFunction
from headwater.sdk.client import Client
from headwater.sdk.errors import (
    HeadwaterError,
    InvalidManifests,
    NoOperator,
    NotFound,
    RunCancelled,
    RunFailed,
)
from headwater.sdk.runs import RunHandle

__all__ = [
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
]

"""Data in and out of a cluster's artifact store with the user's own Kubernetes
credentials: `push_dataset`, `pull_dataset`, `list_outputs`, `download_outputs` (the
CLI's `dataset push|pull` and `outputs`, and the Python API's calls).

An object store is reached directly (fsspec, with the namespace's credentials Secret)
or, like the per-namespace PVC, through short-lived transfer Jobs that use nothing but
the Kubernetes API: ConfigMaps in, Pods' logs out (see builders, upload, download).
`python -m headwater.transfer` is the inside of those Jobs (incluster).

The names below are loaded when first used, so that a transfer Pod, which imports
this package on its way to `incluster`, does not load the Kubernetes client."""

from importlib import import_module
from typing import Any

_WHERE = {
    "Via": "access",
    "Pulled": "datasets",
    "Pushed": "datasets",
    "pull_dataset": "datasets",
    "push_dataset": "datasets",
    "Target": "discovery",
    "connect": "discovery",
    "Forbidden": "errors",
    "NotFound": "errors",
    "NotInStore": "errors",
    "StoreNotFound": "errors",
    "TooLarge": "errors",
    "TransferError": "errors",
    "TransferFailed": "errors",
    "Digest": "model",
    "NoProgress": "model",
    "Progress": "model",
    "Output": "outputs",
    "choose": "outputs",
    "download_outputs": "outputs",
    "list_outputs": "outputs",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)

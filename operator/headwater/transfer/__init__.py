"""Data in and out of a cluster's artifact store with the user's own Kubernetes
credentials: `push_dataset`, `pull_dataset`, `list_outputs`, `download_outputs` (the
CLI's `dataset push|pull` and `outputs`, and the Python API's calls).

An object store is reached directly (fsspec, with the namespace's credentials Secret)
or, like the per-namespace PVC, through short-lived transfer Jobs that use nothing but
the Kubernetes API: ConfigMaps in, Pods' logs out (see builders, upload, download).
`python -m headwater.transfer` is the inside of those Jobs (incluster)."""

from headwater.transfer.access import Via
from headwater.transfer.datasets import Pulled, Pushed, pull_dataset, push_dataset
from headwater.transfer.discovery import Target, connect
from headwater.transfer.errors import (
    Forbidden,
    NotFound,
    NotInStore,
    StoreNotFound,
    TooLarge,
    TransferError,
    TransferFailed,
)
from headwater.transfer.model import Digest, NoProgress, Progress
from headwater.transfer.outputs import Output, choose, download_outputs, list_outputs

__all__ = [
    "Digest",
    "Forbidden",
    "NoProgress",
    "NotFound",
    "NotInStore",
    "Output",
    "Progress",
    "Pulled",
    "Pushed",
    "StoreNotFound",
    "Target",
    "TooLarge",
    "TransferError",
    "TransferFailed",
    "Via",
    "choose",
    "connect",
    "download_outputs",
    "list_outputs",
    "pull_dataset",
    "push_dataset",
]

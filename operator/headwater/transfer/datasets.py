"""`headwater dataset push` and `pull`: a local file into the namespace's store and a
Dataset naming it, and back.

The Dataset is written only after the file is complete and verified in the store, with
the push record (size, sha256) the operator reports it from; pushing the same bytes
again changes nothing. Before any byte moves, the Dataset write is tried as a server
dry run, so a user who may not write the namespace is refused with the API server's
message and nothing is left in the store."""

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from headwater.api import API_VERSION, DataFormat, Dataset
from headwater.artifacts import infer_format, layout
from headwater.artifacts.published import PUSHED_SHA256, PUSHED_SIZE
from headwater.transfer.access import Via, open_store, store_relative
from headwater.transfer.discovery import Target
from headwater.transfer.errors import NotFound, NotInStore, TransferError
from headwater.transfer.model import Digest, NoProgress, Progress, digest_file

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Pushed:
    dataset: str
    uri: str
    """The relative URI the Dataset names."""
    digest: Digest
    changed: bool
    """False when the Dataset already named these very bytes: nothing was done."""


@dataclass(frozen=True)
class Pulled:
    dataset: str
    path: Path
    digest: Digest


def _record(digest: Digest) -> dict[str, str]:
    return {PUSHED_SHA256: digest.sha256, PUSHED_SIZE: str(digest.size)}


def _recorded(body: Manifest) -> Digest | None:
    annotations = body["metadata"].get("annotations") or {}
    sha256, size = annotations.get(PUSHED_SHA256), annotations.get(PUSHED_SIZE, "")
    return Digest(size=int(size), sha256=sha256) if sha256 and size.isdigit() else None


def _unchanged(existing: Manifest, uri: str, data_format: str, digest: Digest) -> bool:
    spec = existing.get("spec") or {}
    return (
        (spec.get("source") or {}).get("uri") == uri
        and spec.get("format") == data_format
        and _recorded(existing) == digest
    )


def push_dataset(
    target: Target,
    name: str,
    file: Path,
    data_format: str | None = None,
    via: Via | None = None,
    progress: Progress | None = None,
) -> Pushed:
    """Put `file` at datasets/<name>/<its name> in the namespace's store and point
    Dataset `name` at it."""
    if not file.is_file():
        raise TransferError(f"{file}: no such file")
    chosen = DataFormat(data_format) if data_format else infer_format(file.name)
    uri = layout.dataset_uri(name, file.name)
    digest = digest_file(file)
    existing = target.kube.get("datasets", name)
    _write_dataset(target, name, existing, uri, chosen, digest, dry_run=True)
    store = open_store(target, name, via)
    unchanged = existing is not None and _unchanged(existing, uri, chosen, digest)
    if unchanged and store.holds(uri, digest):
        return Pushed(name, uri, digest, changed=False)
    store.push(file, name, digest, progress or NoProgress())
    _write_dataset(target, name, existing, uri, chosen, digest, dry_run=False)
    return Pushed(name, uri, digest, changed=True)


def _write_dataset(
    target: Target,
    name: str,
    existing: Manifest | None,
    uri: str,
    data_format: str,
    digest: Digest,
    dry_run: bool,
) -> None:
    if existing is None:
        body = {
            "apiVersion": API_VERSION,
            "kind": "Dataset",
            "metadata": {"name": name, "annotations": _record(digest)},
            "spec": {"format": data_format, "source": {"uri": uri}},
        }
        target.kube.create_dataset(body, dry_run=dry_run)
        return
    # A merge patch: null drops whatever other source the Dataset had.
    source = {"uri": uri, "configMapKeyRef": None, "secretKeyRef": None, "inline": None}
    patch = {
        "metadata": {"annotations": _record(digest)},
        "spec": {"format": data_format, "source": source},
    }
    target.kube.patch_dataset(name, patch, dry_run=dry_run)


def dataset_path(target: Target, body: Manifest) -> str:
    """Where a Dataset's file is in the namespace's store; NotInStore when elsewhere."""
    dataset = Dataset.model_validate(body)
    name, source = dataset.metadata.name, dataset.spec.source
    if source.config_map_key_ref is not None:
        ref = source.config_map_key_ref
        raise NotInStore(
            f"Dataset {name} reads key {ref.key} of ConfigMap {ref.name}, not a file in the"
            f" artifact store: kubectl get configmap {ref.name} -o yaml shows it"
        )
    if source.secret_key_ref is not None:
        ref = source.secret_key_ref
        raise NotInStore(
            f"Dataset {name} reads key {ref.key} of Secret {ref.name}, not a file in the"
            f" artifact store: kubectl get secret {ref.name} -o yaml shows it"
        )
    if source.uri is None:
        raise NotInStore(
            f"Dataset {name} holds inline values, not a file in the artifact store:"
            f" kubectl get dataset {name} -o jsonpath='{{.spec.source.inline}}' shows them"
        )
    path = store_relative(source.uri, target.root)
    if path is None:
        raise NotInStore(
            f"Dataset {name} names {source.uri}, which is not in namespace"
            f" {target.namespace}'s artifact store ({target.root}): read it where it is"
        )
    return path


def pull_dataset(
    target: Target,
    name: str,
    destination: Path | None = None,
    via: Via | None = None,
    progress: Progress | None = None,
) -> Pulled:
    """Download Dataset `name`'s file from the store to `destination` (a file, or a
    folder to put it in; default: its own name here), checked against its push record."""
    body = target.kube.get("datasets", name)
    if body is None:
        raise NotFound(f"no Dataset {name} in namespace {target.namespace}")
    path = dataset_path(target, body)
    filename = PurePosixPath(path).name
    if destination is None:
        destination = Path(filename)
    elif destination.is_dir():
        destination = destination / filename
    store = open_store(target, name, via)
    (found,) = store.fetch([(path, _recorded(body), destination)], progress or NoProgress())
    return Pulled(name, destination, found)

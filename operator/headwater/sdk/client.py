"""Client: the same calls against the local executor (`Client.local()`) and a cluster
namespace (`Client.cluster()`)."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from headwater import api
from headwater.sdk.backend import Backend, CachedResult, generated_name
from headwater.sdk.builders import manifests
from headwater.sdk.errors import NotFound
from headwater.sdk.runs import RunHandle, run_spec, submit_run


class Client:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @classmethod
    def local(cls, path: str | Path = ".headwater") -> "Client":
        """The local executor in the workspace `path`: no cluster, each node a process."""
        from headwater.sdk.local import LocalBackend

        return cls(LocalBackend(path))

    @classmethod
    def cluster(cls, namespace: str | None = None, context: str | None = None) -> "Client":
        """A namespace of a cluster (default: the kubeconfig context's, or the Pod's own
        in a cluster), reached with the kubeconfig's (or the Pod's) credentials."""
        from headwater.sdk.cluster import ClusterBackend

        return cls(ClusterBackend(namespace, context))

    def __repr__(self) -> str:
        return f"<headwater.Client {self.backend.where}>"

    def apply(self, *objects: object) -> list[str]:
        """Create or update Functions (with their code's ConfigMap), Dataflows, Datasets,
        ConfigMaps and Secrets (models or manifest dicts); one line per object."""
        return self.backend.apply(manifests(objects))

    def push_dataset(self, name: str, path: str | Path, format: str | None = None) -> str:
        """Put the file in the artifact store and make Dataset `name` point at it;
        `format` defaults to the file's extension. Says what it did."""
        return self.backend.push_dataset(name, Path(path), format)

    def submit(
        self,
        dataflow: str | api.Dataflow,
        parameters: Mapping[str, object] | None = None,
        name: str | None = None,
        **run_spec_fields: Any,
    ) -> RunHandle:
        """Start a Run of `dataflow`: `parameters` bind free inputs (`headwater.dataset(
        "radar")` or plain values), the rest are Run spec fields (env, retries,
        parallelism, timeout_seconds, resume_from, cache…). Named `<dataflow>-xxxxx`
        unless `name` is given."""
        flow = dataflow if isinstance(dataflow, str) else dataflow.metadata.name
        spec = run_spec(flow, parameters or {}, run_spec_fields)
        return submit_run(self.backend, name or generated_name(flow), spec)

    def get_run(self, name: str) -> RunHandle:
        record = self.backend.read_run(name)
        if record is None:
            raise NotFound(f"no Run {name} in {self.backend.where}")
        return RunHandle(self.backend, name, record)

    def list_runs(self) -> list[RunHandle]:
        """Every Run, oldest first."""
        return [RunHandle(self.backend, r.name, r) for r in self.backend.list_runs()]

    def delete_run(self, name: str) -> None:
        """Delete the Run (locally: its folder, outputs included; in a cluster: the Run,
        its Jobs and Pods — its outputs stay in the store)."""
        self.backend.delete_run(name)

    def cache(self) -> list[CachedResult]:
        """The results Runs with `cache=True` may reuse."""
        return self.backend.cache_entries()

    def clear_cache(self, run: str | None = None) -> int:
        """Forget cached results (all, or one Run's); their outputs stay. How many."""
        return self.backend.clear_cache(run)

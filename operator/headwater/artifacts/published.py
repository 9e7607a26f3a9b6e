"""What the operator publishes about the artifact store, so that the CLI and the Python
API find a namespace's store without the user ever typing its URL.

The operator writes a ConfigMap `headwater-store` in its own namespace whose keys are
this model's fields, and the chart lets every authenticated user read that one
ConfigMap (as kube-public's cluster-info is readable): it holds nothing secret, the
object store's credentials stay in each namespace's Secret it names. A namespace's
store is then `root(namespace)`: `<url>/<namespace>` for an object store, or the claim
`claim` mounted at `mount_path` (which a transfer Job makes if no Run has yet).

Also here: the record `headwater dataset push` leaves on a Dataset, from which the
operator tells a pushed file is there without looking inside a PVC it cannot mount.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

CONFIG_MAP = "headwater-store"
DEFAULT_OPERATOR_NAMESPACE = "headwater-system"
"""Where the chart installs the operator by default; HEADWATER_OPERATOR_NAMESPACE (the
CLI) and --operator-namespace (the operator) say otherwise."""

PUSHED_SHA256 = "headwater.dev/pushed-sha256"
PUSHED_SIZE = "headwater.dev/pushed-size"
"""Annotations `headwater dataset push` sets on the Dataset once the file is complete in
the store: what the operator reports for a file it cannot read."""


class StoreInfo(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    kind: Literal["pvc", "object"]
    """pvc: a PersistentVolumeClaim per namespace, which only Pods can mount; object: an
    fsspec object store."""
    url: str | None = None
    """The object store's URL; each namespace's store is `<url>/<namespace>`."""
    credentials_secret: str | None = None
    """The Secret in each namespace whose keys (AWS_ACCESS_KEY_ID, …) open the store."""
    claim: str | None = None
    """The per-namespace PVC's name (kind pvc)."""
    claim_size: str | None = None
    claim_access_mode: str | None = None
    claim_storage_class: str | None = None
    mount_path: str
    """Where a Job mounts the claim; the store's root as a Job sees it (kind pvc)."""
    runner_image: str
    """The image that runs headwater inside the cluster, for transfer Jobs."""

    def root(self, namespace: str) -> str:
        """The namespace's store root as a Job sees it."""
        if self.kind == "object" and self.url:
            return f"{self.url.rstrip('/')}/{namespace}"
        return self.mount_path

    def to_data(self) -> dict[str, str]:
        """ConfigMap data: every field that is set, as a string."""
        return {
            key: str(value)
            for key, value in self.model_dump(by_alias=True, exclude_none=True).items()
        }

    @classmethod
    def from_data(cls, data: dict[str, str]) -> "StoreInfo":
        return cls.model_validate(data)

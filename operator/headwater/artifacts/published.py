"""What the operator publishes in each namespace it serves about the namespace's
artifact store, so that the CLI and the Python API find the store without the user
ever typing its URL: a ConfigMap `headwater-store` whose keys are this model's fields.

A namespace's users may read ConfigMaps (Kubernetes' `view` role), so this holds
nothing secret: the object store's credentials stay in the Secret it names.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

CONFIG_MAP = "headwater-store"


class StoreInfo(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    kind: Literal["pvc", "object"]
    """pvc: a PersistentVolumeClaim only Pods can mount; object: an fsspec object store."""
    root: str
    """The store's root as a Job sees it: the claim's mount path, or
    s3://bucket/prefix/<namespace>."""
    claim: str | None = None
    """The PVC's name (kind pvc)."""
    credentials_secret: str | None = None
    """The Secret whose keys (AWS_ACCESS_KEY_ID, …) give access to the object store."""
    runner_image: str
    """The image that runs headwater inside the cluster, for transfer Jobs."""

    def to_data(self) -> dict[str, str]:
        """ConfigMap data: every field that is set, as a string."""
        return {
            key: str(value)
            for key, value in self.model_dump(by_alias=True, exclude_none=True).items()
        }

    @classmethod
    def from_data(cls, data: dict[str, str]) -> "StoreInfo":
        return cls.model_validate(data)

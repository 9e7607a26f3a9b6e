"""The operator's settings, set once at startup from its command line."""

from pydantic import BaseModel, Field

STORE_MOUNT_PATH = "/var/lib/headwater/store"
DEFAULT_RUNNER_IMAGE = "ghcr.io/headwater-dev/headwater:0.1.0"


class StoreSettings(BaseModel):
    """Where node outputs live: a per-namespace PVC (the default) or an object store."""

    url: str | None = None
    """An fsspec URL (s3://bucket/prefix…); each namespace gets `<url>/<namespace>`.
    Unset: a PVC in each Run's namespace, mounted into every Job."""
    credentials_secret: str | None = None
    """A Secret in the Run's namespace whose keys become the Jobs' environment
    (AWS_ACCESS_KEY_ID, …), for the object store."""
    pvc_name: str = "headwater-artifacts"
    pvc_size: str = "10Gi"
    pvc_access_mode: str = "ReadWriteOnce"
    """ReadWriteOnce is what every cluster's default class serves (kind, minikube and k3d
    leave a ReadWriteMany claim Pending); ReadWriteMany is for nodes on several machines."""
    pvc_storage_class: str | None = None

    def root(self, namespace: str) -> str:
        """The store's root as the runner inside a Job sees it."""
        if self.url:
            return f"{self.url.rstrip('/')}/{namespace}"
        return STORE_MOUNT_PATH


class OperatorSettings(BaseModel):
    namespaces: list[str] = []
    """Namespaces to watch; empty watches all."""
    store: StoreSettings = StoreSettings()
    runner_image: str = DEFAULT_RUNNER_IMAGE
    """Image for nodes whose Function and Dataflow name none."""
    default_requests: dict[str, str] = {"cpu": "100m", "memory": "256Mi"}
    """Requests for nodes whose Function names no resources."""
    metrics_port: int = Field(default=8080, ge=0, le=65535)
    """Where Prometheus metrics are served; 0 turns them off."""
    metrics_host: str = "0.0.0.0"
    health_port: int = Field(default=8081, ge=0, le=65535)
    """kopf's liveness endpoint (/healthz); 0 turns it off."""
    qps: float = Field(default=50.0, gt=0)
    """Most Kubernetes API requests per second the operator makes on average."""
    burst: int = Field(default=100, ge=1)
    """Requests allowed at once above the average."""
    resync_seconds: float = Field(default=30.0, gt=0)
    """How often every Run is reconciled even without events."""

"""The operator's settings, set once at startup from its command line."""

from pydantic import BaseModel, Field

from headwater.artifacts.published import DEFAULT_OPERATOR_NAMESPACE, StoreInfo

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


def store_info(settings: "OperatorSettings") -> StoreInfo:
    """What the operator publishes about its store (see headwater.artifacts.published)."""
    store = settings.store
    if store.url:
        return StoreInfo(
            kind="object",
            url=store.url,
            credentials_secret=store.credentials_secret,
            mount_path=STORE_MOUNT_PATH,
            runner_image=settings.runner_image,
        )
    return StoreInfo(
        kind="pvc",
        claim=store.pvc_name,
        claim_size=store.pvc_size,
        claim_access_mode=store.pvc_access_mode,
        claim_storage_class=store.pvc_storage_class,
        mount_path=STORE_MOUNT_PATH,
        runner_image=settings.runner_image,
    )


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
    """How often every object is looked at again from the cache, without events."""
    catalog_recheck_seconds: float = Field(default=300.0, gt=0)
    """How often an unchanged Function's code (it may live in a ConfigMap) and a
    Dataset's source are checked again."""
    dataset_probe_allow: tuple[str, ...] = ()
    """URI patterns (fnmatch) beyond the namespace's own artifact store that the
    operator may probe for Dataset status; local paths and loopback, link-local and
    private addresses never."""
    pod_start_timeout: float = Field(default=120.0, gt=0)
    """Seconds a node's Pod may stay unable to start (unschedulable, image not pulled,
    a ConfigMap or Secret missing) before the node fails with the Pod's reason."""
    workers: int = Field(default=4, ge=1, le=64)
    """Threads reconciling objects at once."""
    leader_election: bool = False
    """Take a Lease before reconciling, so that several replicas can run."""
    operator_namespace: str = DEFAULT_OPERATOR_NAMESPACE
    """The operator's own namespace: its Lease, and the headwater-store ConfigMap that
    tells clients where each namespace's artifact store is."""
    leader_election_name: str = "headwater-operator"
    """The Lease's name."""

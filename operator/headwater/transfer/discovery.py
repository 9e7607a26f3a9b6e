"""Finding a namespace's store the way the user's kubectl would: their kubeconfig (or
the Pod's service account), their context and namespace, the `headwater-store`
ConfigMap the operator publishes, and for an object store the credentials in the
namespace's Secret. The user never types a store URL."""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fsspec.core import split_protocol
from kubernetes import client, config

from headwater.artifacts.published import CONFIG_MAP, DEFAULT_OPERATOR_NAMESPACE, StoreInfo
from headwater.controller.kube import kubeconfig_file
from headwater.transfer.errors import Forbidden, StoreNotFound, TransferError
from headwater.transfer.kube import NamespaceApi

OPERATOR_NAMESPACE_VARIABLE = "HEADWATER_OPERATOR_NAMESPACE"
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

S3_SECRET_KEYS = {
    "AWS_ACCESS_KEY_ID": "key",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_SESSION_TOKEN": "token",
}
"""The Secret's keys that node Jobs get as environment, as s3fs options: botocore reads
the variables in a Pod, the CLI passes them explicitly (never through its own
environment, which may hold the user's other credentials)."""


@dataclass(frozen=True)
class Target:
    """A namespace as the user reaches it, and where its store is."""

    kube: NamespaceApi
    store: StoreInfo

    @property
    def namespace(self) -> str:
        return self.kube.namespace

    @property
    def root(self) -> str:
        """The store's root as a transfer Job (and for an object store, the CLI) sees it."""
        return self.store.root(self.namespace)


def connect(namespace: str | None = None, context: str | None = None) -> Target:
    """The namespace (default: the context's) and its store, with the user's credentials."""
    api, default_namespace = _api_client(context)
    kube = NamespaceApi(api, namespace or default_namespace)
    return Target(kube, find_store(kube))


def _api_client(context: str | None) -> tuple[client.ApiClient, str]:
    configuration = client.Configuration()
    if context is None and IN_CLUSTER_NAMESPACE.exists():
        try:
            config.load_incluster_config(client_configuration=configuration)
            return client.ApiClient(configuration), IN_CLUSTER_NAMESPACE.read_text().strip()
        except config.ConfigException:
            pass
    try:
        file = kubeconfig_file()
        config.load_kube_config(file, context=context, client_configuration=configuration)
        contexts, active = config.list_kube_config_contexts(file)
    except (config.ConfigException, OSError) as error:
        raise TransferError(f"cannot load the kubeconfig: {error}") from None
    chosen = next((c for c in contexts if c["name"] == context), active) if context else active
    namespace = (chosen or {}).get("context", {}).get("namespace") or "default"
    return client.ApiClient(configuration), namespace


def operator_namespace() -> str:
    return os.environ.get(OPERATOR_NAMESPACE_VARIABLE) or DEFAULT_OPERATOR_NAMESPACE


def find_store(kube: NamespaceApi) -> StoreInfo:
    where = operator_namespace()
    try:
        published = kube.config_map(CONFIG_MAP, where)
    except Forbidden as refused:
        raise Forbidden(
            f"{refused}; the headwater chart lets every signed-in user read ConfigMap"
            f" {CONFIG_MAP} in the operator's namespace (Role <release>-store-reader):"
            " ask your cluster's admin for it"
        ) from None
    if published is None:
        raise StoreNotFound(
            f"no ConfigMap {CONFIG_MAP} in namespace {where}, where the headwater operator"
            " says where each namespace's artifact store is: is the operator installed and"
            f" running? If it runs in another namespace, set {OPERATOR_NAMESPACE_VARIABLE}"
            " to that namespace"
        )
    try:
        return StoreInfo.from_data(published.get("data") or {})
    except ValueError as error:
        raise StoreNotFound(f"ConfigMap {CONFIG_MAP} in {where} is not readable: {error}") from None


def object_store_options(target: Target) -> dict[str, Any]:
    """fsspec options that open the namespace's object store from here, from the
    Secret its Jobs get; none when no Secret is named (the user's own environment then
    applies, as it would for any fsspec URL)."""
    secret = target.store.credentials_secret
    protocol = split_protocol(target.root)[0]
    if not secret:
        return {}
    values = target.kube.secret_values(secret)
    if values is None:
        raise TransferError(
            f"Secret {secret} (the object store's credentials, which every Job of namespace"
            f" {target.namespace} gets) does not exist in {target.namespace}"
        )
    text = {key: value.decode() for key, value in values.items()}
    if protocol not in ("s3", "s3a"):
        return {}
    return s3_options(text)


def s3_options(values: dict[str, str]) -> dict[str, Any]:
    """The AWS_* variables a Job would get, as s3fs options."""
    options: dict[str, Any] = {
        option: values[key] for key, option in S3_SECRET_KEYS.items() if values.get(key)
    }
    endpoint = values.get("AWS_ENDPOINT_URL_S3") or values.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["endpoint_url"] = endpoint
    region = values.get("AWS_REGION") or values.get("AWS_DEFAULT_REGION")
    if region:
        options["client_kwargs"] = {"region_name": region}
    return options

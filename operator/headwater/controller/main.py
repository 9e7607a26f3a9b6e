"""Start the operator: clients and settings once, then kopf in the foreground."""

import logging

import kopf
import prometheus_client

from headwater.controller.handlers import Services, register
from headwater.controller.kube import Kube, load_client_config
from headwater.controller.runs import RunReconciler
from headwater.controller.settings import OperatorSettings


def run_operator(settings: OperatorSettings, verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    kube = Kube(settings, load_client_config())
    services = Services(kube, settings, RunReconciler(kube, settings))
    registry = kopf.OperatorRegistry()
    register(registry, services)
    if settings.metrics_port:
        prometheus_client.start_http_server(settings.metrics_port, addr=settings.metrics_host)
    liveness = (
        f"http://{settings.metrics_host}:{settings.health_port}/healthz"
        if settings.health_port
        else None
    )
    try:
        kopf.run(
            registry=registry,
            standalone=True,
            namespaces=settings.namespaces,
            clusterwide=not settings.namespaces,
            liveness_endpoint=liveness,
        )
    finally:
        kube.close()

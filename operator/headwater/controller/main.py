"""Start the operator: clients and settings once, leadership if asked, then kopf in the
foreground."""

import logging
import os
import threading

import kopf
import prometheus_client

from headwater.controller.cache import ObjectCache
from headwater.controller.catalog import Catalog
from headwater.controller.handlers import Services, register
from headwater.controller.health import HealthServer
from headwater.controller.kube import Kube, load_client_config
from headwater.controller.leadership import LeaseElector
from headwater.controller.runs import RunReconciler
from headwater.controller.settings import OperatorSettings
from headwater.controller.workqueue import Workers, WorkQueue
from headwater.deepjson import allow_deep_json

log = logging.getLogger(__name__)
EXIT_LOST_LEADERSHIP = 3


def run_operator(settings: OperatorSettings, verbose: bool = False) -> None:
    # First, before any thread starts: the API server stores JSON nested 10,000 deep,
    # and parsing it (kopf's watch does) must not stop the operator for everyone.
    allow_deep_json()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # kopf and the kubernetes client log every body they see at debug level, env values
    # and code included: never, even with --verbose. "Handler … succeeded" at info for
    # every event says nothing either.
    logging.getLogger("kopf").setLevel(logging.INFO)
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    logging.getLogger("kubernetes.client.rest").setLevel(logging.INFO)
    kube = Kube(settings, load_client_config())
    workers: list[Workers] = []
    health = None
    if settings.health_port:
        health = HealthServer(
            settings.metrics_host,
            settings.health_port,
            lambda: workers[0].longest_busy() if workers else 0.0,
        )
        health.start()
    if settings.metrics_port:
        prometheus_client.start_http_server(settings.metrics_port, addr=settings.metrics_host)
    stop = threading.Event()
    elector = None
    if settings.leader_election:
        elector = LeaseElector(
            kube.coordination, settings.operator_namespace, settings.leader_election_name
        )
        if not elector.acquire(stop):
            return
        elector.keep(_lost_leadership, stop)
    if health is not None:
        health.role = "leader"
    cache, queue = ObjectCache(), WorkQueue()
    services = Services(
        kube,
        cache,
        queue,
        settings,
        RunReconciler(kube, cache, queue, settings),
        Catalog(kube, cache, queue, settings),
    )
    registry = kopf.OperatorRegistry()
    workers.append(register(registry, services, health.ready if health else None))
    try:
        kopf.run(
            registry=registry,
            standalone=True,
            namespaces=settings.namespaces,
            clusterwide=not settings.namespaces,
        )
    finally:
        stop.set()
        services.catalog.prober.close()
        if elector is not None:
            elector.release()
        if health is not None:
            health.stop()
        kube.close()


def _lost_leadership() -> None:
    """Another replica leads now, or may at any moment: stop acting at once, and let
    the Deployment start this one again as a standby."""
    log.error("lost the lease; exiting so that only the leader reconciles")
    logging.shutdown()
    os._exit(EXIT_LOST_LEADERSHIP)

"""The `headwater` command: run and validate locally, generate CRDs, and the cluster verbs."""

import json
import sys
import tempfile
from pathlib import Path

import click
from rich.console import Console

from headwater.api import Run, RunPhase
from headwater.artifacts.published import DEFAULT_OPERATOR_NAMESPACE
from headwater.cache_cli import cache
from headwater.cli_cluster import dataset
from headwater.cli_functions import function
from headwater.cli_outputs import outputs
from headwater.cli_runs import RUN_COMMANDS
from headwater.controller.settings import DEFAULT_RUNNER_IMAGE, OperatorSettings, StoreSettings
from headwater.crdgen import write_crds
from headwater.local.check import check
from headwater.local.display import RunDisplay, failure_logs, summary_table
from headwater.local.driver import Workspace, execute
from headwater.local.resolve import snapshot_for
from headwater.local.reuse import ResumeError, planned
from headwater.manifests import ManifestError, Manifests, load_manifests

EXIT_SUCCEEDED, EXIT_FAILED, EXIT_INVALID = 0, 1, 2

paths_argument = click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)
)


@click.group()
@click.version_option(package_name="headwater")
def main() -> None:
    """Dataflows of Python functions over datasets, locally or on Kubernetes."""


def _load_and_check(paths: tuple[Path, ...], console: Console, scratch: Path) -> Manifests:
    """Manifests with every problem printed; exits 2 when there is any."""
    try:
        manifests = load_manifests(paths)
    except ManifestError as error:
        for problem in error.problems:
            console.print(f"[red]error[/red] {problem}", highlight=False)
        raise SystemExit(EXIT_INVALID) from None
    findings = check(manifests, scratch)
    for warning in findings.warnings:
        console.print(f"[yellow]warning[/yellow] {warning}", highlight=False)
    for error in findings.errors:
        console.print(f"[red]error[/red] {error}", highlight=False)
    if findings.errors:
        raise SystemExit(EXIT_INVALID)
    return manifests


@main.command()
@paths_argument
def validate(paths: tuple[Path, ...]) -> None:
    """Check manifests without running anything: every problem, with file and field."""
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory() as scratch:
        manifests = _load_and_check(paths, console, Path(scratch))
    counts = ", ".join(
        f"{len(table)} {kind}"
        for kind, table in (
            ("datasets", manifests.datasets),
            ("functions", manifests.functions),
            ("dataflows", manifests.dataflows),
            ("runs", manifests.runs),
        )
    )
    console.print(f"[green]valid[/green]: {counts}")


def _choose_run(manifests: Manifests, name: str | None) -> Run:
    if name is not None:
        if name not in manifests.runs:
            raise click.UsageError(
                f"no Run named {name}; found: {', '.join(manifests.runs) or 'none'}"
            )
        return manifests.runs[name]
    if len(manifests.runs) != 1:
        found = ", ".join(manifests.runs) or "none"
        raise click.UsageError(f"choose a Run with --run NAME; found: {found}")
    return next(iter(manifests.runs.values()))


@main.command()
@paths_argument
@click.option("--run", "run_name", help="The Run to execute when the manifests hold several.")
@click.option("--parallel", type=click.IntRange(min=1), help="Most nodes running at once.")
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=Path(".headwater"),
    show_default=True,
    help="Where runs keep status.json, logs and outputs.",
)
@click.option(
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="json prints the final status on stdout.",
)
def run(
    paths: tuple[Path, ...], run_name: str | None, parallel: int | None, workdir: Path, output: str
) -> None:
    """Execute a Run from manifests on this machine, nodes as local processes."""
    console = Console(stderr=True)
    workspace = Workspace(workdir)
    with tempfile.TemporaryDirectory() as scratch:
        manifests = _load_and_check(paths, console, Path(scratch))
    chosen = _choose_run(manifests, run_name)
    if parallel is not None:
        limit = min(parallel, chosen.spec.parallelism or parallel)
        chosen = chosen.model_copy(
            update={"spec": chosen.spec.model_copy(update={"parallelism": limit})}
        )
    snapshot = snapshot_for(chosen, manifests, workspace.run_dir(chosen.metadata.name) / "datasets")
    try:
        snapshot = planned(chosen, snapshot, workspace.workdir, workspace.store_root)
    except ResumeError as error:
        console.print(f"[red]error[/red] Run/{chosen.metadata.name}: {error}", highlight=False)
        raise SystemExit(EXIT_INVALID) from None
    with RunDisplay(chosen.metadata.name, len(snapshot.dataflow.nodes), console) as display:
        status = execute(chosen, snapshot, workspace, display.update)
    console.print(summary_table(chosen.metadata.name, status))
    for line in failure_logs(status, lambda node: workspace.node_dir(chosen.metadata.name, node)):
        console.print(line, highlight=False, soft_wrap=True)
    for name, uri in status.outputs.items():
        console.print(f"output {name}: {uri}", highlight=False, soft_wrap=True)
    console.print(f"status: {workspace.status_file(chosen.metadata.name)}", highlight=False)
    if output == "json":
        json.dump(status.to_wire(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    raise SystemExit(EXIT_SUCCEEDED if status.phase == RunPhase.SUCCEEDED else EXIT_FAILED)


@main.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("crds"),
    show_default=True,
    help="The folder to write one CRD file per kind into.",
)
def crds(out: Path) -> None:
    """Write the CustomResourceDefinitions generated from the resource models."""
    for path in write_crds(out):
        click.echo(path)


@main.command()
@click.option(
    "--namespace",
    "namespaces",
    multiple=True,
    envvar="HEADWATER_NAMESPACES",
    help="A namespace to watch; repeat for several. Default: all namespaces.",
)
@click.option(
    "--store-url",
    envvar="HEADWATER_STORE_URL",
    help="Object-store URL for artifacts (s3://bucket/prefix); default: a PVC per namespace.",
)
@click.option(
    "--store-credentials-secret",
    envvar="HEADWATER_STORE_CREDENTIALS_SECRET",
    help="Secret in each namespace whose keys become the Jobs' environment, for the object store.",
)
@click.option(
    "--pvc-name", default="headwater-artifacts", show_default=True, envvar="HEADWATER_PVC_NAME"
)
@click.option("--pvc-size", default="10Gi", show_default=True, envvar="HEADWATER_PVC_SIZE")
@click.option(
    "--pvc-access-mode",
    default="ReadWriteOnce",
    show_default=True,
    envvar="HEADWATER_PVC_ACCESS_MODE",
)
@click.option("--pvc-storage-class", envvar="HEADWATER_PVC_STORAGE_CLASS")
@click.option(
    "--runner-image",
    default=DEFAULT_RUNNER_IMAGE,
    show_default=True,
    envvar="HEADWATER_RUNNER_IMAGE",
    help="Image for nodes whose Function and Dataflow name none.",
)
@click.option(
    "--default-requests",
    default="cpu=100m,memory=256Mi",
    show_default=True,
    envvar="HEADWATER_DEFAULT_REQUESTS",
    help="Resource requests for nodes whose Function names none (name=quantity,…).",
)
@click.option(
    "--metrics-port",
    type=int,
    default=8080,
    show_default=True,
    envvar="HEADWATER_METRICS_PORT",
    help="Prometheus metrics port; 0 turns it off.",
)
@click.option(
    "--health-port",
    type=int,
    default=8081,
    show_default=True,
    envvar="HEADWATER_HEALTH_PORT",
    help="Liveness port (/healthz); 0 turns it off.",
)
@click.option(
    "--listen-host",
    default="0.0.0.0",
    show_default=True,
    envvar="HEADWATER_LISTEN_HOST",
    help="Address the metrics and health endpoints bind to.",
)
@click.option(
    "--qps",
    type=float,
    default=50.0,
    show_default=True,
    envvar="HEADWATER_QPS",
    help="Average Kubernetes API requests per second.",
)
@click.option(
    "--burst",
    type=int,
    default=100,
    show_default=True,
    envvar="HEADWATER_BURST",
    help="API requests allowed at once above the average.",
)
@click.option(
    "--resync-seconds",
    type=float,
    default=30.0,
    show_default=True,
    envvar="HEADWATER_RESYNC_SECONDS",
    help="How often everything is looked at again without events.",
)
@click.option(
    "--catalog-recheck-seconds",
    type=float,
    default=300.0,
    show_default=True,
    envvar="HEADWATER_CATALOG_RECHECK_SECONDS",
    help="How often unchanged Functions' code and Datasets' sources are checked again.",
)
@click.option(
    "--dataset-probe-allow",
    multiple=True,
    envvar="HEADWATER_DATASET_PROBE_ALLOW",
    help="A URI pattern (fnmatch, e.g. 'https://data.example.com/*') the operator may probe"
    " for Dataset status besides the namespace's own store; repeat for several.",
)
@click.option(
    "--pod-start-timeout",
    type=float,
    default=120.0,
    show_default=True,
    envvar="HEADWATER_POD_START_TIMEOUT",
    help="Seconds a node's Pod may be unable to start before the node fails.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    envvar="HEADWATER_WORKERS",
    help="Objects reconciled at once.",
)
@click.option(
    "--leader-elect/--no-leader-elect",
    default=False,
    envvar="HEADWATER_LEADER_ELECT",
    help="Take a Lease before reconciling, so that several replicas can run.",
)
@click.option(
    "--operator-namespace",
    default=DEFAULT_OPERATOR_NAMESPACE,
    show_default=True,
    envvar="POD_NAMESPACE",
    help="The operator's own namespace: its Lease, and the headwater-store ConfigMap"
    " that tells clients where each namespace's artifact store is.",
)
@click.option("--verbose", is_flag=True, help="Debug logging.")
def operator(
    namespaces: tuple[str, ...],
    store_url: str | None,
    store_credentials_secret: str | None,
    pvc_name: str,
    pvc_size: str,
    pvc_access_mode: str,
    pvc_storage_class: str | None,
    runner_image: str,
    default_requests: str,
    metrics_port: int,
    health_port: int,
    listen_host: str,
    qps: float,
    burst: int,
    resync_seconds: float,
    catalog_recheck_seconds: float,
    dataset_probe_allow: tuple[str, ...],
    pod_start_timeout: float,
    workers: int,
    leader_elect: bool,
    operator_namespace: str,
    verbose: bool,
) -> None:
    """Run the Kubernetes operator in the foreground (kubeconfig or in-cluster config)."""
    from headwater.controller.main import run_operator

    settings = OperatorSettings(
        namespaces=[n for value in namespaces for n in value.split(",") if n],
        store=StoreSettings(
            url=store_url,
            credentials_secret=store_credentials_secret,
            pvc_name=pvc_name,
            pvc_size=pvc_size,
            pvc_access_mode=pvc_access_mode,
            pvc_storage_class=pvc_storage_class,
        ),
        runner_image=runner_image,
        default_requests=_quantities(default_requests),
        metrics_port=metrics_port,
        metrics_host=listen_host,
        health_port=health_port,
        qps=qps,
        burst=burst,
        resync_seconds=resync_seconds,
        catalog_recheck_seconds=catalog_recheck_seconds,
        dataset_probe_allow=tuple(
            p for value in dataset_probe_allow for p in value.split(",") if p
        ),
        pod_start_timeout=pod_start_timeout,
        workers=workers,
        leader_election=leader_elect,
        operator_namespace=operator_namespace,
    )
    run_operator(settings, verbose=verbose)


def _quantities(text: str) -> dict[str, str]:
    """`cpu=100m,memory=256Mi` → {"cpu": "100m", "memory": "256Mi"}."""
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if any(len(pair) != 2 or not all(pair) for pair in pairs):
        raise click.BadParameter(f"expected name=quantity,…; got {text!r}")
    return {name.strip(): value.strip() for name, value in pairs}


for command in (*RUN_COMMANDS, outputs, dataset, function, cache):
    main.add_command(command)

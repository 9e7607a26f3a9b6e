"""The `headwater` verbs for Runs, in a cluster namespace (kubectl-like `-n`, `--context`,
`-o`) or, with `--local`, in the local workspace: submit, list, get, watch, wait, logs,
stop, retry, delete. Each is a few lines over the Python API (headwater.sdk), so the
command line and a notebook do the same thing the same way."""

import json
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click
import yaml
from rich.console import Console
from rich.markup import escape

from headwater.api import Run, RunStatus, find_condition, now
from headwater.cli_cluster import _columns, context_option, namespace_option
from headwater.engine import SUCCEEDED, TERMINAL_PHASES
from headwater.manifests import ManifestError, Manifests, load_manifests

if TYPE_CHECKING:
    from headwater.sdk import Client, RunHandle

# headwater.sdk is loaded by the commands that use it: `headwater run` does not pay for it.
NO_OPERATOR_SECONDS = 30.0
"""As headwater.sdk.runs.NO_OPERATOR_SECONDS (a test checks they agree)."""

EXIT_SUCCEEDED, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
MESSAGE_WIDTH = 80
"""A message column is cut here in tables (wide and -o json show it whole)."""

P = ParamSpec("P")
R = TypeVar("R")

local_option = click.option(
    "--local", is_flag=True, help="The local workspace (--workdir), not a cluster."
)
workdir_option = click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=Path(".headwater"),
    show_default=True,
    help="The local workspace, with --local.",
)
output_option = click.option(
    "-o", "--output", "form", type=click.Choice(["json", "yaml", "wide", "name"])
)


def place_options(command: Callable[P, R]) -> Callable[P, R]:
    """-n, --context, --local, --workdir: where the command works."""
    for option in (workdir_option, local_option, context_option, namespace_option):
        command = option(command)
    return command


def client_for(local: bool, workdir: Path, namespace: str | None, context: str | None) -> "Client":
    from headwater.sdk import Client

    if local:
        if namespace or context:
            raise click.UsageError("--local works in the workspace: leave out -n and --context")
        return Client.local(workdir)
    return Client.cluster(namespace, context)


def reported(command: Callable[P, R]) -> Callable[P, R]:
    """The Python API's errors as one line on stderr: exit 2 for manifests that would
    not validate, 1 for everything else."""

    @wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        from headwater.sdk import HeadwaterError, InvalidManifests, RunFailed

        console = Console(stderr=True)
        try:
            return command(*args, **kwargs)
        except InvalidManifests as error:
            for problem in error.problems:
                console.print(f"[red]error[/red] {escape(problem)}", highlight=False)
            raise SystemExit(EXIT_INVALID) from None
        except RunFailed as error:
            console.print(f"[red]{escape(str(error))}[/red]", highlight=False, soft_wrap=True)
            raise SystemExit(EXIT_FAILED) from None
        except (HeadwaterError, TimeoutError, TypeError) as error:
            console.print(f"[red]error[/red] {escape(str(error))}", highlight=False)
            raise SystemExit(EXIT_FAILED) from None

    return run


def _print_documents(documents: list[dict[str, Any]], form: str) -> None:
    if form == "json":
        json.dump(documents[0] if len(documents) == 1 else documents, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        yaml.safe_dump(
            documents[0] if len(documents) == 1 else documents, sys.stdout, sort_keys=False
        )


def _age(moment: datetime | None) -> str:
    """As kubectl shows an age: 42s, 7m, 3h, 5d."""
    if moment is None:
        return ""
    seconds = max(int((now() - moment).total_seconds()), 0)
    for unit, size, below in (("s", 1, 120), ("m", 60, 7200), ("h", 3600, 172800)):
        if seconds < below:
            return f"{seconds // size}{unit}"
    return f"{seconds // 86400}d"


def _message(status: RunStatus) -> str:
    condition = find_condition(status.conditions, SUCCEEDED)
    return (condition.message or "") if condition else ""


def _cut(text: str, wide: bool) -> str:
    text = " ".join(text.split())
    return text if wide or len(text) <= MESSAGE_WIDTH else text[: MESSAGE_WIDTH - 1] + "…"


# submit


def _bindings(values: Iterable[str], datasets: Iterable[str]) -> dict[str, object]:
    """`-p NAME=VALUE` (VALUE as JSON when it parses, else text) and `--dataset
    NAME=DATASET`."""
    from headwater.sdk import dataset

    bound: dict[str, object] = {}
    for item, is_dataset in [*((v, False) for v in values), *((d, True) for d in datasets)]:
        name, equals, text = item.partition("=")
        if not equals or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}")
        if is_dataset:
            bound[name] = dataset(text)
            continue
        try:
            bound[name] = json.loads(text)
        except ValueError:
            bound[name] = text
    return bound


def _anchored(manifests: Manifests) -> list[object]:
    """The objects to apply locally, relative Dataset URIs made absolute at their
    manifest's folder, as `headwater run` reads them."""
    from headwater.artifacts import is_local

    objects: list[object] = []
    for name, found in manifests.datasets.items():
        uri = found.spec.source.uri
        if (
            uri is not None
            and is_local(uri)
            and not Path(uri.removeprefix("file://")).is_absolute()
        ):
            absolute = (
                manifests.folder_of("Dataset", name) / uri.removeprefix("file://")
            ).resolve()
            source = found.spec.source.model_copy(update={"uri": str(absolute)})
            found = found.model_copy(
                update={"spec": found.spec.model_copy(update={"source": source})}
            )
        objects.append(found)
    return objects


def _key_value_objects(manifests: Manifests) -> list[dict[str, Any]]:
    from headwater.sdk.builders import key_values_manifest

    return [
        key_values_manifest(kind, name, values)
        for kind, table in (("ConfigMap", manifests.config_maps), ("Secret", manifests.secrets))
        for name, values in table.items()
    ]


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--name", help="The Run's name; default: the manifest's, or <dataflow>-xxxxx.")
@click.option("-p", "--param", "params", multiple=True, help="NAME=VALUE, VALUE as JSON or text.")
@click.option("--dataset", "datasets", multiple=True, help="NAME=DATASET: bind a Dataset.")
@click.option("--retries", type=click.IntRange(0, 9), help="Retries per node (spec.retries).")
@click.option("--env", "env", multiple=True, help="NAME=VALUE for every node (spec.env).")
@click.option("--cache/--no-cache", default=None, help="Reuse cached results (spec.cache).")
@click.option(
    "--wait", "wait_for", is_flag=True, help="Wait for the end; exit 1 unless it succeeds."
)
@click.option("--watch", is_flag=True, help="Like --wait, with a live view of its nodes.")
@output_option
@place_options
@reported
def submit(
    paths: tuple[Path, ...],
    name: str | None,
    params: tuple[str, ...],
    datasets: tuple[str, ...],
    retries: int | None,
    env: tuple[str, ...],
    cache: bool | None,
    wait_for: bool,
    watch: bool,
    form: str | None,
    namespace: str | None,
    context: str | None,
    local: bool,
    workdir: Path,
) -> None:
    """Apply the manifests in PATH… and start their Run — or, when they hold none, a new
    Run of their one Dataflow. -p and --dataset bind (or rebind) its free inputs;
    --retries, --env and --cache set (or override) the Run's own."""
    from headwater.sdk import InvalidManifests

    try:
        manifests = load_manifests(paths)
    except ManifestError as error:
        raise InvalidManifests([str(p) for p in error.problems]) from None
    client = client_for(local, workdir, namespace, context)
    objects = [
        *_key_value_objects(manifests),
        *(_anchored(manifests) if local else manifests.datasets.values()),
        *manifests.functions.values(),
        *manifests.dataflows.values(),
    ]
    console = Console(stderr=True)
    for line in client.apply(*objects) if objects else []:
        console.print(escape(line), highlight=False)
    run = _chosen_run(manifests)
    overrides = _bindings(params, datasets)
    chosen = _spec_options(retries, env, cache)
    if run is not None:
        spec = run.spec
        bound = {**spec.parameters, **overrides}
        options = spec.model_dump(exclude={"dataflow", "parameters"}, exclude_defaults=True)
        handle = client.submit(
            spec.dataflow, bound, name=name or run.metadata.name, **{**options, **chosen}
        )
    elif len(manifests.dataflows) == 1:
        handle = client.submit(next(iter(manifests.dataflows)), overrides, name=name, **chosen)
    else:
        found = ", ".join(manifests.dataflows) or "none"
        raise click.UsageError(f"no Run in the manifests and not one Dataflow (found: {found})")
    if form in ("json", "yaml"):
        _print_documents([handle.get().to_wire()], form)
    else:
        click.echo(handle.name if form == "name" else f"run/{handle.name} submitted")
    if wait_for or watch:
        _waited(handle, progress=watch, timeout=None, no_operator_after=NO_OPERATOR_SECONDS)


def _spec_options(retries: int | None, env: tuple[str, ...], cache: bool | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if retries is not None:
        options["retries"] = retries
    if env:
        if bad := [item for item in env if item.partition("=")[0] in ("", item)]:
            raise click.BadParameter(f"{bad[0]!r} is not NAME=VALUE", param_hint="--env")
        options["env"] = dict(item.split("=", 1) for item in env)
    if cache is not None:
        options["cache"] = cache
    return options


def _chosen_run(manifests: Manifests) -> Run | None:
    if len(manifests.runs) > 1:
        raise click.UsageError(
            f"the manifests hold {len(manifests.runs)} Runs ({', '.join(manifests.runs)}):"
            " submit one at a time"
        )
    return next(iter(manifests.runs.values()), None)


def _waited(
    handle: "RunHandle", progress: bool, timeout: float | None, no_operator_after: float
) -> None:
    status = handle.wait(timeout=timeout, progress=progress, no_operator_after=no_operator_after)
    Console(stderr=True).print(f"run {handle.name} succeeded ({status.progress})", highlight=False)


timeout_option = click.option(
    "--timeout", type=float, help="Give up after this many seconds (exit 1)."
)
no_operator_option = click.option(
    "--no-operator-after",
    type=float,
    default=NO_OPERATOR_SECONDS,
    show_default=True,
    help="Seconds a Run may have no status before it is reported unserved (exit 1).",
)


# list, get


@click.command("list")
@output_option
@place_options
@reported
def list_runs(
    form: str | None, namespace: str | None, context: str | None, local: bool, workdir: Path
) -> None:
    """Every Run: dataflow, phase, progress, age, duration (wide: started, message)."""
    handles = client_for(local, workdir, namespace, context).list_runs()
    runs = [h.last for h in handles if h.last is not None]
    if form in ("json", "yaml"):
        _print_documents([{"items": [r.to_wire() for r in runs]}], form)
        return
    if form == "name":
        for handle in handles:
            click.echo(handle.name)
        return
    if not handles:
        Console(stderr=True).print("no runs found")
        return
    wide = form == "wide"
    rows = [["NAME", "DATAFLOW", "PHASE", "PROGRESS", "AGE", "DURATION"]]
    rows[0] += ["STARTED", "MESSAGE"] if wide else []
    for handle in handles:
        run, created = handle.last, handle.record.created if handle.record else None
        assert run is not None
        status = run.status or RunStatus()
        phase = status.phase.value if status != RunStatus() else "(no status)"
        row = [run.metadata.name, run.spec.dataflow, phase, status.progress or "", _age(created)]
        row.append(status.duration or "")
        if wide:
            started = status.started_at.isoformat() if status.started_at else ""
            row += [started, _cut(_message(status), wide=True)]
        rows.append(row)
    click.echo(_columns(rows))


@click.command()
@click.argument("run")
@output_option
@no_operator_option
@place_options
@reported
def get(
    run: str,
    form: str | None,
    no_operator_after: float,
    namespace: str | None,
    context: str | None,
    local: bool,
    workdir: Path,
) -> None:
    """One Run: its phase and message, then a row per node (wide: job, exit code, where
    a reused node's outputs came from)."""
    handle = client_for(local, workdir, namespace, context).get_run(run)
    found = handle.get()
    if form in ("json", "yaml"):
        _print_documents([found.to_wire()], form)
        return
    if form == "name":
        click.echo(found.metadata.name)
        return
    assert handle.record is not None
    unserved = handle.backend.unserved(handle.record, no_operator_after)
    status = found.status or RunStatus()
    click.echo(_summary(found, status))
    if unserved is not None:
        Console(stderr=True).print(f"[yellow]warning[/yellow] {escape(unserved)}", highlight=False)
    elif status == RunStatus():
        Console(stderr=True).print("no status yet: nothing has looked at this Run so far")
    if status.nodes:
        click.echo("")
        click.echo(_columns(_node_rows(status, wide=form == "wide")))


def _summary(run: Run, status: RunStatus) -> str:
    lines = [
        ("Run", run.metadata.name),
        ("Dataflow", run.spec.dataflow),
        ("Phase", status.phase.value if status != RunStatus() else "(no status)"),
        ("Progress", status.progress or ""),
        ("Started", status.started_at.isoformat() if status.started_at else ""),
        ("Duration", status.duration or ""),
        ("Resumes", run.spec.resume_from or ""),
        ("Message", _message(status)),
    ]
    return "\n".join(f"{key + ':':<10}{value}" for key, value in lines if value)


def _node_rows(status: RunStatus, wide: bool) -> list[list[str]]:
    rows = [["NODE", "PHASE", "ATTEMPTS", "DURATION", "MESSAGE"]]
    rows[0] += ["JOB", "EXIT", "REUSED-FROM"] if wide else []
    for name, node in status.nodes.items():
        seconds = (
            f"{(node.finished_at - node.started_at).total_seconds():.0f}s"
            if node.started_at and node.finished_at
            else ""
        )
        attempts = str(node.attempts or (1 if node.started_at else ""))
        row = [name, node.phase.value, attempts, seconds, _cut(node.message or "", wide)]
        if wide:
            exit_code = "" if node.exit_code is None else str(node.exit_code)
            row += [node.job or "", exit_code, node.reused_from or ""]
        rows.append(row)
    return rows


# watch, wait


@click.command()
@click.argument("run")
@timeout_option
@no_operator_option
@place_options
@reported
def watch(
    run: str,
    timeout: float | None,
    no_operator_after: float,
    namespace: str | None,
    context: str | None,
    local: bool,
    workdir: Path,
) -> None:
    """A live view of RUN's nodes until it ends, then its table; exit 0 if it succeeded."""
    handle = client_for(local, workdir, namespace, context).get_run(run)
    _waited(handle, progress=True, timeout=timeout, no_operator_after=no_operator_after)


@click.command()
@click.argument("run")
@timeout_option
@no_operator_option
@place_options
@reported
def wait(
    run: str,
    timeout: float | None,
    no_operator_after: float,
    namespace: str | None,
    context: str | None,
    local: bool,
    workdir: Path,
) -> None:
    """Until RUN ends: exit 0 when it succeeded, 1 when it failed or was cancelled (with
    the failed nodes' messages), or when no operator serves its namespace."""
    handle = client_for(local, workdir, namespace, context).get_run(run)
    _waited(handle, progress=False, timeout=timeout, no_operator_after=no_operator_after)


# logs


@click.command()
@click.argument("run")
@click.argument("node", required=False)
@click.option("-f", "--follow", is_flag=True, help="Go on printing until the Run ends.")
@click.option("--attempt", type=click.IntRange(min=1), help="Attempt N (default: the latest).")
@place_options
@reported
def logs(
    run: str,
    node: str | None,
    follow: bool,
    attempt: int | None,
    namespace: str | None,
    context: str | None,
    local: bool,
    workdir: Path,
) -> None:
    """What NODE of RUN printed (every node, each line prefixed `[node] `, when none is
    named): from its Pod while there is one, from the store after."""
    handle = client_for(local, workdir, namespace, context).get_run(run)
    if follow:
        if attempt is not None:
            raise click.UsageError("--follow prints the attempts as they come: leave out --attempt")
        for line in handle.follow_logs(node):
            sys.stdout.write(line)
            sys.stdout.flush()
        return
    sys.stdout.write(handle.logs(node, attempt))


# stop, retry, delete


@click.command()
@click.argument("run")
@place_options
@reported
def stop(run: str, namespace: str | None, context: str | None, local: bool, workdir: Path) -> None:
    """Stop RUN: its running nodes are stopped, no more start, it ends Cancelled."""
    handle = client_for(local, workdir, namespace, context).get_run(run)
    status = handle.status()
    if status.phase in TERMINAL_PHASES:
        Console(stderr=True).print(f"run {run} has already ended ({status.phase.value})")
        return
    handle.stop()
    click.echo(f"run/{run} stopping")


@click.command()
@click.argument("run")
@click.option("--name", help="The new Run's name; default: <dataflow>-xxxxx.")
@click.option("-p", "--param", "params", multiple=True, help="NAME=VALUE: change a binding.")
@click.option("--dataset", "datasets", multiple=True, help="NAME=DATASET: bind a Dataset.")
@click.option(
    "--wait", "wait_for", is_flag=True, help="Wait for the end; exit 1 unless it succeeds."
)
@place_options
@reported
def retry(
    run: str,
    name: str | None,
    params: tuple[str, ...],
    datasets: tuple[str, ...],
    wait_for: bool,
    namespace: str | None,
    context: str | None,
    local: bool,
    workdir: Path,
) -> None:
    """Start a new Run like RUN, resuming from it: nodes whose fingerprints match are
    reused, the rest (the failed part) run again. Prints the new Run's name."""
    handle = client_for(local, workdir, namespace, context).get_run(run)
    again = handle.retry(name=name, parameters=_bindings(params, datasets))
    click.echo(again.name)
    if wait_for:
        _waited(again, progress=False, timeout=None, no_operator_after=NO_OPERATOR_SECONDS)


@click.command()
@click.argument("runs", nargs=-1, required=True)
@place_options
@reported
def delete(
    runs: tuple[str, ...], namespace: str | None, context: str | None, local: bool, workdir: Path
) -> None:
    """Delete each RUN (in a cluster with its Jobs and Pods, its outputs staying in the
    store; locally with its folder, outputs included)."""
    client = client_for(local, workdir, namespace, context)
    for name in runs:
        client.delete_run(name)
        click.echo(f"run/{name} deleted")


RUN_COMMANDS = (submit, list_runs, get, watch, wait, logs, stop, retry, delete)

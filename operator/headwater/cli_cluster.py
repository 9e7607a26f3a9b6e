"""The `headwater` verbs that work against a cluster, kubectl-like: `-n/--namespace`
(default: the context's), `--context`, `-o`. Data in and out: `dataset push|pull` and
`outputs` (headwater.transfer does the work; this module only parses and prints)."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click
import yaml
from rich.console import Console
from rich.filesize import decimal
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from headwater.api.dataset import DataFormat

if TYPE_CHECKING:
    from headwater.transfer import Output, Target

# headwater.transfer (the Kubernetes client, fsspec) is imported by the commands that
# use it: `headwater run` on a laptop never pays for it.

EXIT_FAILED, EXIT_INTERRUPTED = 1, 130
PROGRESS_FROM = 8 << 20
"""Transfers this large (bytes) show a progress bar."""
VALUE_WIDTH = 48

P = ParamSpec("P")
R = TypeVar("R")

namespace_option = click.option(
    "-n", "--namespace", help="The namespace; default: the kubeconfig context's."
)
context_option = click.option("--context", help="The kubeconfig context to use.")
via_option = click.option(
    "--via",
    type=click.Choice(["job", "direct"]),
    help="How to reach the store: direct (an object store, from this machine; the default"
    " there) or job (a transfer Job in the namespace; the only way to a PVC, and to an"
    " object store reachable only from inside the cluster).",
)


def _stopped_by_sigterm(*_: object) -> None:
    raise KeyboardInterrupt


def cluster_command(command: Callable[P, R]) -> Callable[P, R]:
    """Errors as one line and exit 1; Ctrl-C and SIGTERM clean up (every transfer
    deletes its Jobs on the way out) and exit 130."""

    @wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        from headwater.transfer import TransferError

        console = Console(stderr=True)
        signal.signal(signal.SIGTERM, _stopped_by_sigterm)
        try:
            return command(*args, **kwargs)
        except TransferError as error:
            console.print(f"[red]error[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
            raise SystemExit(EXIT_FAILED) from None
        except KeyboardInterrupt:
            console.print("interrupted: nothing was changed, transfer Jobs deleted")
            raise SystemExit(EXIT_INTERRUPTED) from None

    return run


class ProgressBar:
    """headwater.transfer's Progress as a rich bar on stderr, for large transfers."""

    def __init__(self, console: Console, what: str) -> None:
        self.what = what
        self.bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task: TaskID | None = None

    def start(self, total: int) -> None:
        if total >= PROGRESS_FROM and self.task is None:
            self.bar.start()
            self.task = self.bar.add_task(self.what, total=total)

    def advance(self, amount: int) -> None:
        if self.task is not None:
            self.bar.advance(self.task, amount)

    @contextmanager
    def shown(self) -> Iterator[ProgressBar]:
        try:
            yield self
        finally:
            self.bar.stop()


def _target(namespace: str | None, context: str | None) -> Target:
    from headwater.transfer import connect

    return connect(namespace=namespace, context=context)


def _where(target: Target) -> str:
    if target.store.kind == "pvc":
        return f"PVC {target.store.claim} in namespace {target.namespace}"
    return target.root


@click.group()
def dataset() -> None:
    """Files in and out of the namespace's artifact store, as Datasets."""


@dataset.command()
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "data_format",
    type=click.Choice([f.value for f in DataFormat]),
    help="How nodes read it; default: from the file's extension.",
)
@namespace_option
@context_option
@via_option
@cluster_command
def push(
    name: str,
    file: Path,
    data_format: str | None,
    namespace: str | None,
    context: str | None,
    via: Any,
) -> None:
    """Put FILE in the store under datasets/NAME/ and point Dataset NAME at it.

    The Dataset is created or updated only once the file is complete and its sha256
    checked in the store; pushing the same bytes again does nothing."""
    from headwater.transfer import push_dataset

    console = Console(stderr=True)
    target = _target(namespace, context)
    with ProgressBar(console, f"push {name}").shown() as bar:
        pushed = push_dataset(target, name, file, data_format, via=via, progress=bar)
    digest = f"{decimal(pushed.digest.size)}, sha256 {pushed.digest.sha256[:12]}…"
    if pushed.changed:
        message = f"dataset {name}: pushed {file} ({digest}) to {pushed.uri} in {_where(target)}"
    else:
        message = (
            f"dataset {name}: unchanged, {pushed.uri} holds these bytes ({digest}); nothing pushed"
        )
    console.print(escape(message), highlight=False, soft_wrap=True)


@dataset.command()
@click.argument("name")
@click.argument("file", required=False, type=click.Path(path_type=Path))
@namespace_option
@context_option
@via_option
@cluster_command
def pull(
    name: str, file: Path | None, namespace: str | None, context: str | None, via: Any
) -> None:
    """Download Dataset NAME's file from the store to FILE (a file or a folder;
    default: the file's own name, here), checked against its push record."""
    from headwater.transfer import pull_dataset

    console = Console(stderr=True)
    target = _target(namespace, context)
    with ProgressBar(console, f"pull {name}").shown() as bar:
        pulled = pull_dataset(target, name, file, via=via, progress=bar)
    digest = f"{decimal(pulled.digest.size)}, sha256 {pulled.digest.sha256[:12]}…"
    console.print(escape(f"dataset {name}: pulled to {pulled.path} ({digest})"), highlight=False)


def _value(output: Output) -> str:
    if not output.has_value:
        return ""
    text = json.dumps(output.value, separators=(",", ":"))
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"


def _columns(rows: list[list[str]]) -> str:
    """Rows as kubectl prints them: aligned columns, nothing wrapped or cut."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _table(outputs: list[Output], wide: bool) -> str:
    header = ["NAME", "NODE", "FORMAT", "SIZE", "VALUE", "URI"]
    if wide:
        header += ["FINAL", "TYPE", "SHA256"]
    rows = [header]
    for output in outputs:
        meta = output.meta
        row = [
            output.name,
            output.node,
            meta.serializer if meta else "(missing)",
            decimal(meta.size) if meta else "",
            _value(output),
            output.uri,
        ]
        if wide:
            row += ["yes" if output.final else "no"]
            row += [meta.type, meta.sha256] if meta else ["", ""]
        rows.append(row)
    return _columns(rows)


@click.command()
@click.argument("run")
@click.argument("name", required=False)
@click.option(
    "--download",
    "into",
    type=click.Path(file_okay=False, path_type=Path),
    help="Fetch the output NAME, or all, into DIR/<node>/<output>/ (data file and meta.json).",
)
@click.option("-o", "--output", "form", type=click.Choice(["json", "yaml", "wide"]))
@namespace_option
@context_option
@via_option
@cluster_command
def outputs(
    run: str,
    name: str | None,
    into: Path | None,
    form: str | None,
    namespace: str | None,
    context: str | None,
    via: Any,
) -> None:
    """List Run RUN's final and per-node outputs (or only NAME, or NODE/NAME), with
    small JSON values inline; --download fetches them."""
    from headwater.transfer import download_outputs, list_outputs

    console = Console(stderr=True)
    target = _target(namespace, context)
    if into is not None:
        with ProgressBar(console, f"outputs of {run}").shown() as bar:
            written = download_outputs(target, run, into, name, via=via, progress=bar)
        for path in written:
            console.print(escape(f"downloaded {path}"), highlight=False, soft_wrap=True)
        return
    show_outputs(run, list_outputs(target, run, via=via), name, form)


def show_outputs(run: str, listed: list[Output], name: str | None, form: str | None) -> None:
    """The outputs table (or JSON, YAML) of a cluster's or the workspace's Run."""
    from headwater.transfer import choose

    if name is not None:
        listed = [choose(listed, name)]
    if form in ("json", "yaml"):
        documents = [o.model_dump(mode="json", by_alias=True) for o in listed]
        if form == "json":
            json.dump(documents, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            yaml.safe_dump(documents, sys.stdout, sort_keys=False)
        return
    if not listed:
        Console(stderr=True).print(f"run {run} has no outputs yet")
        return
    click.echo(_table(listed, wide=form == "wide"))

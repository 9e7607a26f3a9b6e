"""`headwater outputs --local`: the local workspace's side of the `outputs` verb, which
headwater.cli_cluster serves for clusters. The cluster command is wrapped, not
rewritten: same arguments, same table, plus --local and --workdir."""

import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.markup import escape

from headwater.cli_cluster import _table
from headwater.cli_cluster import outputs as cluster_outputs
from headwater.cli_runs import reported


@reported
def local_outputs(
    run: str, name: str | None, into: Path | None, form: str | None, workdir: Path
) -> None:
    from headwater.sdk import Client
    from headwater.transfer import choose

    handle = Client.local(workdir).get_run(run)
    if into is not None:
        assert handle.record is not None
        for path in handle.backend.download(handle.record, name, into):
            Console(stderr=True).print(escape(f"downloaded {path}"), highlight=False)
        return
    listed = handle.outputs()
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


def _callback(local: bool, workdir: Path, **arguments: Any) -> Any:
    if local:
        if arguments.get("namespace") or arguments.get("context") or arguments.get("via"):
            raise click.UsageError("--local works in the workspace: leave out -n, --context, --via")
        return local_outputs(
            arguments["run"], arguments["name"], arguments["into"], arguments["form"], workdir
        )
    assert cluster_outputs.callback is not None
    return cluster_outputs.callback(**arguments)


outputs = click.Command(
    name=cluster_outputs.name,
    params=[
        *cluster_outputs.params,
        click.Option(["--local"], is_flag=True, help="The local workspace (--workdir)."),
        click.Option(
            ["--workdir"],
            type=click.Path(path_type=Path),
            default=Path(".headwater"),
            show_default=True,
            help="The local workspace, with --local.",
        ),
    ],
    callback=_callback,
    help=cluster_outputs.help,
    short_help=cluster_outputs.short_help,
)

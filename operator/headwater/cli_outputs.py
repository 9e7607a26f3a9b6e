"""`headwater outputs --local`: the local workspace's side of the `outputs` verb, which
headwater.cli_cluster serves for clusters. The cluster command is wrapped, not
rewritten: same arguments, same table, plus --local and --workdir."""

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from headwater.cli_cluster import outputs as cluster_outputs
from headwater.cli_cluster import show_outputs
from headwater.cli_runs import reported


@reported
def local_outputs(
    run: str, name: str | None, into: Path | None, form: str | None, workdir: Path
) -> None:
    from headwater.sdk import Client

    handle = Client.local(workdir).get_run(run)
    if into is not None:
        assert handle.record is not None
        for path in handle.backend.download(handle.record, name, into):
            Console(stderr=True).print(escape(f"downloaded {path}"), highlight=False)
        return
    show_outputs(run, handle.outputs(), name, form)


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

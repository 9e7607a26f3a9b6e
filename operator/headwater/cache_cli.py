"""`headwater cache list|clear`: see and drop the results later Runs may reuse."""

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from headwater.api import now
from headwater.local.reuse import LocalCache

workdir_option = click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=Path(".headwater"),
    show_default=True,
    help="The local executor's folder (with --local).",
)
local_option = click.option(
    "--local", is_flag=True, help="The local executor's cache, not a cluster's."
)


@click.group()
def cache() -> None:
    """Results that Runs with `cache: {enabled: true}` share."""


@cache.command("list")
@local_option
@workdir_option
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
def list_entries(local: bool, workdir: Path, output: str) -> None:
    """Every cached result: fingerprint, function, node, the Run that made it, age."""
    _local_only(local)
    entries = LocalCache(workdir).entries()
    if output == "json":
        rows = [
            {"fingerprint": digest, **entry.model_dump(mode="json", by_alias=True)}
            for digest, entry in entries.items()
        ]
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    table = Table(title=f"{len(entries)} cached results in {workdir}", title_justify="left")
    for column in ("fingerprint", "function", "node", "run", "age"):
        table.add_column(column)
    moment = now()
    for digest, entry in sorted(entries.items(), key=lambda item: item[1].finished_at):
        age = int((moment - entry.finished_at).total_seconds())
        table.add_row(digest[:12], entry.function, entry.node, entry.run, f"{age}s")
    Console().print(table)


@cache.command()
@local_option
@workdir_option
@click.option("--run", "run_name", help="Only the results this Run made.")
def clear(local: bool, workdir: Path, run_name: str | None) -> None:
    """Drop cached results (all, or one Run's); their outputs stay where they are."""
    _local_only(local)
    dropped = LocalCache(workdir).clear(run_name)
    click.echo(f"dropped {dropped} cached results")


def _local_only(local: bool) -> None:
    if not local:
        raise click.UsageError("only --local is served so far")

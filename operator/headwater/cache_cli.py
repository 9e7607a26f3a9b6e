"""`headwater cache list|clear`: see and drop the results later Runs may reuse, in a
cluster namespace (the operator's cache ConfigMaps) or the local workspace."""

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from headwater.api import now
from headwater.cli_runs import client_for, place_options, reported


@click.group()
def cache() -> None:
    """Results that Runs with `cache: {enabled: true}` share."""


@cache.command("list")
@place_options
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
@reported
def list_entries(
    namespace: str | None, context: str | None, local: bool, workdir: Path, output: str
) -> None:
    """Every cached result: fingerprint, function, node, the Run that made it, age."""
    client = client_for(local, workdir, namespace, context)
    entries = sorted(client.cache(), key=lambda e: e.finished_at)
    if output == "json":
        rows = [
            {
                "fingerprint": e.fingerprint,
                "run": e.run,
                "node": e.node,
                "function": e.function,
                "outputs": e.outputs,
                "finishedAt": e.finished_at.isoformat(),
            }
            for e in entries
        ]
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    where = client.backend.where
    table = Table(title=f"{len(entries)} cached results in {where}", title_justify="left")
    for column in ("fingerprint", "function", "node", "run", "age"):
        table.add_column(column)
    moment = now()
    for entry in entries:
        age = int((moment - entry.finished_at).total_seconds())
        table.add_row(entry.fingerprint[:12], entry.function, entry.node, entry.run, f"{age}s")
    Console().print(table)


@cache.command()
@place_options
@click.option("--run", "run_name", help="Only the results this Run made.")
@reported
def clear(
    namespace: str | None, context: str | None, local: bool, workdir: Path, run_name: str | None
) -> None:
    """Drop cached results (all, or one Run's); their outputs stay where they are."""
    dropped = client_for(local, workdir, namespace, context).clear_cache(run_name)
    click.echo(f"dropped {dropped} cached results")

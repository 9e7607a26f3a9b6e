"""`headwater function init FILE.py[:HANDLER]`: Function manifests written from a .py
file's signatures and type hints (Function.from_file), with the ConfigMap that carries
the file, ready for `kubectl apply -f -` or a GitOps repository."""

from pathlib import Path

import click

from headwater.cli_runs import reported


@click.group()
def function() -> None:
    """Functions from Python files."""


@function.command()
@click.argument("target", metavar="FILE.py[:HANDLER]")
@click.option("--name", help="The Function's name (with a HANDLER); default: from the handler.")
@click.option("--outputs", help="Output names, comma-separated (with a HANDLER).")
@click.option("--config-map", help="The ConfigMap carrying the file; default: from its name.")
@reported
def init(target: str, name: str | None, outputs: str | None, config_map: str | None) -> None:
    """Print a Function per public top-level def of FILE.py (or only HANDLER), its params
    from the signature (Path → path; int, float, str, bool, list, dict or a JSON default
    → value, with a schema; anything else → artifact) and its outputs from the return
    annotation or the names it returns."""
    from headwater.sdk import Function, UnportableFunction, functions_from_file, to_yaml

    path_text, _, handler = target.partition(":")
    path = Path(path_text)
    if not path.is_file():
        raise click.BadParameter(f"{path}: no such file", param_hint="FILE.py")
    try:
        if handler:
            names = outputs.split(",") if outputs else None
            found = [Function.from_file(path, handler, name, names, config_map=config_map)]
        else:
            if name or outputs:
                raise click.UsageError("--name and --outputs name one Function: add :HANDLER")
            found = list(functions_from_file(path, config_map=config_map))
    except UnportableFunction as error:
        raise click.ClickException(str(error)) from None
    click.echo(to_yaml(*found), nl=False)

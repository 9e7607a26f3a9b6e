"""JSON Schemas of value parameters: is the schema itself valid, does a value match it.

Pure, and never on the network: a `$ref` to anything outside the schema is reported as
unresolvable rather than fetched, so checking a manifest reads nothing but the manifest.
"""

from collections.abc import Iterable
from typing import Any

from jsonschema.exceptions import SchemaError, ValidationError, best_match
from jsonschema.validators import validator_for
from referencing.exceptions import Unresolvable


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Why `schema` is not a JSON Schema (of its own `$schema` dialect, else the
    newest), or None."""
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as error:
        return f"{_at('schema', error.absolute_path)}{error.message}"
    return None


def mismatch(schema: dict[str, Any], value: Any) -> str | None:
    """The most telling rule `value` breaks, e.g. `'fifty' is not of type 'number'
    (rule type: 'number')`, or None when it matches. Assumes `schema_problem` passed."""
    try:
        error = best_match(validator_for(schema)(schema).iter_errors(value))
    except Unresolvable as unresolvable:
        return f"the schema refers to what it does not hold: {unresolvable}"
    if error is None:
        return None
    return f"{_at('value', error.absolute_path)}{error.message} ({_rule(error)})"


def _rule(error: ValidationError) -> str:
    rule = f"rule {error.validator}: {error.validator_value!r}"
    if len(error.absolute_schema_path) > 1:
        return f"{rule} at {_dotted('schema', error.absolute_schema_path)}"
    return rule


def _at(root: str, path: Iterable[str | int]) -> str:
    parts = list(path)
    return f"{_dotted(root, parts)}: " if parts else ""


def _dotted(root: str, path: Iterable[str | int]) -> str:
    return root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)

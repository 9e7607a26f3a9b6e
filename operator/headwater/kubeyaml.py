"""YAML the way kubectl reads it, so a manifest gets the same verdict here as there.

kubectl turns YAML into JSON with sigs.k8s.io/yaml, which uses go-yaml v2: YAML 1.1
scalars, where a bare `y`, `n`, `yes`, `off`… is a boolean, `0o17` and `1e3` are
numbers, `1:30` and dates are strings, and map keys become strings (`y:` → "true").
PyYAML's safe loader differs on each of those, so this module resolves plain scalars
with go-yaml v2's rules instead, and says where a scalar will not reach the API server
as written.
"""

import math
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import yaml

STR = "tag:yaml.org,2002:str"
BOOL = "tag:yaml.org,2002:bool"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
NULL = "tag:yaml.org,2002:null"
MERGE = "tag:yaml.org,2002:merge"

# go-yaml v2's resolve table: these exact spellings, no other case variants.
WORDS: dict[str, tuple[str, Any]] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE"), (BOOL, True)),
    **dict.fromkeys(("on", "On", "ON"), (BOOL, True)),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE"), (BOOL, False)),
    **dict.fromkeys(("off", "Off", "OFF"), (BOOL, False)),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), (NULL, None)),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), (FLOAT, math.nan)),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), (FLOAT, math.inf)),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), (FLOAT, -math.inf)),
    "<<": (MERGE, "<<"),
}
YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
LEADING_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")
GO_INT = re.compile(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
INT64 = 2**63
JSON_INTEGRAL = 1e21
"""Go's encoding/json writes a float64 below this without an exponent, so `1e3` and
`2.0` reach the API server as the integers 1000 and 2."""


def _go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64), falling back to ParseUint as go-yaml does."""
    match = GO_INT.fullmatch(text)
    if match is None:
        return None
    sign, digits = match.groups()
    prefix = digits[:2].lower()
    base = {"0x": 16, "0o": 8, "0b": 2}.get(prefix)
    if base is not None:
        value = int(digits[2:], base)
    else:
        value = int(digits, 8) if len(digits) > 1 and digits[0] == "0" else int(digits)
    value = -value if sign == "-" else value
    fits = -INT64 <= value < INT64 or (not sign and value < 2 * INT64)
    return value if fits else None


def _json_number(value: float) -> int | float:
    """What a float64 becomes after kubectl's JSON: integral ones are integers."""
    if math.isfinite(value) and value.is_integer() and abs(value) < JSON_INTEGRAL:
        # Go writes the shortest digits that read back as the same float, as repr does.
        return int(Decimal(repr(value)))
    return value


def resolve_plain(text: str) -> tuple[str, Any]:
    """The tag and value go-yaml v2 gives an unquoted scalar."""
    if text in WORDS:
        return WORDS[text]
    first = text[0]
    if first == "." and LEADING_DOT_FLOAT.fullmatch(text):
        return FLOAT, _json_number(float(text))
    if first in "+-0123456789":
        plain = text.replace("_", "")
        integer = _go_int(plain)
        if integer is not None:
            return INT, integer
        if YAML_FLOAT.fullmatch(plain) and math.isfinite(number := float(plain)):
            return FLOAT, _json_number(number)
    return STR, text


class _KubectlResolver:
    """Plain scalars resolve by go-yaml v2's rules; quoted and tagged ones as written."""

    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return resolve_plain(value)[0]
        return super().resolve(kind, value, implicit)  # type: ignore[misc]


BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""LibYAML when PyYAML has it: the pure-Python loader takes quadratic time in nesting
(seconds at 2,000 levels, minutes at the API server's 10,000) and recurses three frames a
level; LibYAML refuses more than 1,000 levels with a YAMLError."""


class KubectlLoader(_KubectlResolver, BaseLoader):
    def construct_scalar_value(self, node: yaml.ScalarNode) -> Any:
        # A plain scalar: style None from PyYAML's parser, "" from LibYAML's.
        if not node.style and node.tag in (BOOL, INT, FLOAT, NULL):
            return resolve_plain(node.value)[1]
        return self.construct_scalar(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[str, Any]:
        self.flatten_mapping(node)
        return {
            json_key(self.construct_object(key, deep=deep)): self.construct_object(value, deep=deep)
            for key, value in node.value
        }


for _tag in (BOOL, INT, FLOAT, NULL):
    KubectlLoader.add_constructor(_tag, KubectlLoader.construct_scalar_value)


class KubectlDumper(yaml.SafeDumper):
    """Quotes every string kubectl would read as something else (`'y'`, `'0o17'`), or
    PyYAML would (`'1:30'`), so that either reads the text back."""

    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
        theirs = super().resolve(kind, value, implicit)
        if kind is yaml.ScalarNode and implicit[0] and resolve_plain(value)[0] != STR:
            return resolve_plain(value)[0]
        return theirs


def _represent_text(dumper: KubectlDumper, text: str) -> yaml.ScalarNode:
    # Code and other multi-line text as a literal block, as people write it (PyYAML
    # falls back to quoting when a block cannot hold the text exactly).
    return dumper.represent_scalar(STR, text, style="|" if "\n" in text else None)


KubectlDumper.add_representer(str, _represent_text)


def json_key(key: Any) -> str:
    """A map key as sigs.k8s.io/yaml writes it into JSON."""
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def read_documents(text: str) -> list[tuple[yaml.Node, Any]]:
    """Each document's node tree (to say where a problem is) and its JSON-ready value."""
    loader = KubectlLoader(text)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            documents.append((node, loader.construct_document(node)))
        return documents
    finally:
        loader.dispose()


def dump_all(documents: list[Any]) -> str:
    """Multi-document YAML that kubectl and `headwater` read back unchanged."""
    return yaml.dump_all(documents, Dumper=KubectlDumper, sort_keys=False)


def read_as(node: yaml.Node) -> str | None:
    """For an unquoted scalar that is not a string to kubectl: what it becomes and how
    to keep the text, e.g. `y is read as the boolean true by kubectl (YAML 1.1); quote
    it: "y"`."""
    if not isinstance(node, yaml.ScalarNode) or node.style or node.tag == STR:
        return None
    tag, value = resolve_plain(node.value)
    if tag == BOOL:
        became = f"the boolean {json_key(value)}"
    elif tag == NULL:
        became = "null"
    elif tag in (INT, FLOAT):
        became = f"the number {value}"
    else:
        return None
    shown = node.value or "an empty value"
    return f'{shown} is read as {became} by kubectl (YAML 1.1); quote it: "{node.value}"'


def node_at(node: yaml.Node, location: tuple[str | int, ...]) -> yaml.Node | None:
    """The node at a pydantic error location; parts that name no field (the union
    member pydantic tried) are skipped."""
    for part in location:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            found = next((v for k, v in node.value if _key_text(k) == part), None)
            node = found if found is not None else node
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return None
            node = node.value[part]
        elif not isinstance(part, str):
            return None
    return node


def not_as_written(node: yaml.Node) -> Iterator[tuple[str, str]]:
    """(field path, message) for each key kubectl renames (`y:` becomes "true") or
    cannot send (a null or float key), and each value JSON cannot hold (`.inf`)."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(node, "")]
    while stack:
        current, path = stack.pop()
        # An alias repeats a node; looking once keeps aliased documents cheap.
        if id(current) in seen:
            continue
        seen.add(id(current))
        children = []
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if key.tag == MERGE:
                    children.append((value, path))
                    continue
                # The key as written, since that is what the user will look for.
                here = f"{path}.{key.value}" if path else str(key.value)
                hint = read_as(key) if _renamed(key) else None
                if hint is not None:
                    yield here, f"the key {hint}"
                children.append((value, here))
        elif isinstance(current, yaml.SequenceNode):
            children = [(item, f"{path}[{i}]") for i, item in enumerate(current.value)]
        elif current.tag == FLOAT and not current.style:
            number = resolve_plain(current.value)[1]
            if not math.isfinite(number):
                yield path, f"{current.value} is not a JSON number, so kubectl cannot send it"
        stack.extend(reversed(children))


def _renamed(key: yaml.Node) -> bool:
    # Integer keys keep their digits ("1"); booleans, nulls and floats do not.
    return not key.style and key.tag in (BOOL, NULL, FLOAT)


def _key_text(key: yaml.Node) -> str:
    if isinstance(key, yaml.ScalarNode) and not key.style and key.tag != STR:
        return json_key(resolve_plain(key.value)[1])
    return str(key.value)

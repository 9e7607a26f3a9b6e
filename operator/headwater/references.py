"""Following references to ConfigMap and Secret keys, wherever the objects are kept:
manifests on disk for the local executor, the cluster for the operator. The caller
says how to look one up by name."""

from collections.abc import Callable, Mapping

from headwater.api import FunctionCode, FunctionSpec, KeyRef

KeyValues = Callable[[str], Mapping[str, bytes] | None]
"""A ConfigMap's or Secret's name → its keys and values, None when it does not exist."""


class MissingKey(LookupError):
    """The ConfigMap or Secret, or the key in it, does not exist; the message says which."""


def key_value(kind: str, ref: KeyRef, lookup: KeyValues) -> bytes:
    values = lookup(ref.name)
    if values is None:
        raise MissingKey(f"{kind} {ref.name} not found")
    if ref.key not in values:
        raise MissingKey(f"{kind} {ref.name} has no key {ref.key}")
    return values[ref.key]


def with_inline_code(spec: FunctionSpec, config_maps: KeyValues) -> FunctionSpec:
    """The spec with ConfigMap code read into `code.inline`; raises MissingKey. The
    reference stays beside it, so that messages name the ConfigMap and key, and
    tracebacks the key, as the file the user wrote."""
    ref = spec.code.config_map_key_ref
    if ref is None or spec.code.inline is not None:
        return spec
    # A ConfigMap may hold anything: bytes that are not UTF-8 (kept as surrogates) or more
    # than the inline limit. The code check reports both as InvalidCode, so the copy is
    # not validated here, where it would raise instead.
    source = key_value("ConfigMap", ref, config_maps).decode(errors="surrogateescape")
    code = FunctionCode.model_construct(inline=source, config_map_key_ref=ref)
    return spec.model_copy(update={"code": code})

"""Node fingerprints: a digest of everything that determines a node's outputs, computed
the same way by both executors, so that a result is reused only when it would come out
the same, and a node that runs again can say what changed.

A fingerprint covers the function (code, handler, module, image, parameter and output
declarations), the values its parameters receive (bound values, defaults), the content
of the datasets it reads (a sha256, or the version an object store reports), the
fingerprints of the upstream outputs it reads, and the env it is given. A dataset whose
content is not known (a Secret, a URI the operator may not probe) makes its readers,
and so everything downstream, unfingerprintable: never reused, rather than reused wrong.

Pure: specs in, digests out.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from headwater.api import Binding, EnvVar, FunctionSpec
from headwater.graph import Graph
from headwater.snapshot import Snapshot

PARTS = ("code", "declaration", "values", "inputs", "upstream", "env")
"""What a fingerprint is made of, in the words a changed one is explained with."""
WHAT_CHANGED = {
    "code": "its function's code or image changed",
    "declaration": "its function's parameters or outputs changed",
    "values": "a value it is given changed",
    "inputs": "the content of a dataset it reads changed",
    "upstream": "an upstream result it reads changed",
    "env": "its environment changed",
}


@dataclass(frozen=True)
class Fingerprint:
    digest: str
    """sha256 over the parts, hex."""
    parts: Mapping[str, str]
    """Part name → its own digest, to say which part differs."""


@dataclass(frozen=True)
class Unknown:
    """Why a node has no fingerprint."""

    reason: str


def digest(value: object) -> str:
    """sha256 of `value` as canonical JSON."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprints(
    snapshot: Snapshot,
    graph: Graph,
    bindings: Mapping[str, Binding],
    run_env: list[EnvVar],
) -> dict[str, Fingerprint | Unknown]:
    """Every node's fingerprint, upstream first."""
    found: dict[str, Fingerprint | Unknown] = {}
    for node_id in graph.order:
        found[node_id] = _node(node_id, snapshot, graph, bindings, run_env, found)
    return found


def _node(
    node_id: str,
    snapshot: Snapshot,
    graph: Graph,
    bindings: Mapping[str, Binding],
    run_env: list[EnvVar],
    found: Mapping[str, Fingerprint | Unknown],
) -> Fingerprint | Unknown:
    node = graph.nodes[node_id]
    function = snapshot.functions[node.function]
    values: dict[str, object] = {}
    inputs: dict[str, object] = {}
    upstream: dict[str, object] = {}
    for param in function.params:
        wired = graph.inputs[node_id].get(param.name)
        if wired is not None and wired in graph.producers:
            producer = graph.producers[wired][0]
            earlier = found[producer]
            if isinstance(earlier, Unknown):
                return Unknown(f"upstream node {producer} has no fingerprint: {earlier.reason}")
            position = graph.outputs[producer].index(wired)
            upstream[param.name] = [earlier.digest, position]
        elif wired is not None and wired in bindings:
            binding = bindings[wired]
            if binding.dataset is None:
                values[param.name] = binding.value
                continue
            dataset = snapshot.datasets.get(binding.dataset)
            content = dataset.content if dataset is not None else None
            if content is None:
                return Unknown(f"the content of dataset {binding.dataset} is not known")
            inputs[param.name] = [content, dataset.format if dataset else None, param.type]
        else:
            values[param.name] = param.default
    parts = {
        "code": digest(_code(function, snapshot)),
        "declaration": digest(_declaration(function)),
        "values": digest(values),
        "inputs": digest(inputs),
        "upstream": digest(upstream),
        "env": digest([v.to_wire() for v in [*function.env, *run_env]]),
    }
    return Fingerprint(digest(parts), parts)


def _code(function: FunctionSpec, snapshot: Snapshot) -> dict[str, object]:
    return {
        "inline": function.code.inline,
        "module": function.code.module,
        "handler": function.handler,
        "image": function.image or snapshot.dataflow.image,
    }


def _declaration(function: FunctionSpec) -> dict[str, object]:
    # Descriptions are for people; how outputs are wired downstream is not content.
    params = [
        p.model_dump(mode="json", by_alias=True, exclude={"description"}) for p in function.params
    ]
    return {"params": params, "outputs": list(function.outputs)}


def what_changed(now: Fingerprint, before: Fingerprint) -> str:
    """Why a node runs again: the parts that differ, in words."""
    changed = [WHAT_CHANGED[part] for part in PARTS if now.parts[part] != before.parts[part]]
    return "; ".join(changed) or "its fingerprint changed"

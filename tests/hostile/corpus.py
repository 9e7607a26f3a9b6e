"""Hostile and broken manifests, each with the verdict it must get.

Everything here is something a user with the `headwater-edit` role can apply in their
own namespace. Each case is rejected by the API server at apply time (`Rejected`: a
fragment of kubectl's error) or accepted and then given a condition by the operator
(`Expected`), and either way `headwater validate` says what is wrong (`local`, a fragment
of its output; None when the manifests are valid).

Apply a case's documents in order with `kubectl create -f -` (JSON): `kubectl apply`
copies the whole object into an annotation that Kubernetes caps at 256 KiB, which would
reject the large cases for the wrong reason. The setup documents are valid and must be
accepted; the last document is the hostile one. Names are unique across cases, so every
case can go into one namespace.

Generated rather than stored: the deepest and largest cases are megabytes of brackets.
"""

import base64
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from headwater.limits import (
    CODE_LENGTH,
    DESCRIPTION_LENGTH,
    ENV_VALUE_LENGTH,
    IMAGE_LENGTH,
    JSON_BYTES,
    JSON_DEPTH,
    MAX_BINDINGS,
    MAX_ENV,
    MAX_NODES,
    MAX_PARAMS,
    MAX_SECONDS,
    URI_LENGTH,
)

API_VERSION = "headwater.dev/v1alpha1"
Manifest = dict[str, Any]

# Reasons the operator gives (headwater.controller).
INVALID_SPEC = "InvalidSpec"
"""The models cannot read the object: a bound the CRD schema cannot express."""
INVALID_CODE = "InvalidCode"
INVALID_DATAFLOW = "InvalidDataflow"
VALID_DATAFLOW = "Valid"
CHECKED = "Checked"
INLINE = "Inline"
DATAFLOW_NOT_FOUND = "DataflowNotFound"

# What kubectl and the API server say.
TOO_DEEP_FOR_THE_API = "exceeded max depth"
"""Go's encoding/json stops at 10,000 levels (kubectl says so before sending)."""
TOO_LARGE_FOR_ETCD = "etcdserver: request is too large"
"""etcd stores at most ~1.5 MiB an object."""
TOO_LARGE_A_REQUEST = "Request entity too large"
"""kube-apiserver reads at most 3 MiB a request."""
# What headwater validate says, beside the models' own messages.
TOO_DEEP_FOR_LIBYAML = "exceeded maximum nesting depth"
"""LibYAML reads at most 1,000 levels."""
TOO_DEEP = f"nested more than {JSON_DEPTH} levels deep"
TOO_DEEP_CODE = "nested too deeply or too large for Python's parser"
NOT_A_DATA_NAME = "String should match pattern '^[A-Za-z0-9_][A-Za-z0-9_-]*$'"
NOT_A_DNS_NAME = "String should match pattern '^[a-z0-9]([-a-z0-9]*[a-z0-9])?"


@dataclass(frozen=True)
class Rejected:
    """kubectl create fails, saying `fragment`."""

    fragment: str


@dataclass(frozen=True)
class Expected:
    """Accepted; then the operator sets this condition on kind/name."""

    kind: str
    name: str
    type: str
    status: str
    reason: str
    fragment: str = ""
    """In the condition's message."""


@dataclass(frozen=True)
class Case:
    name: str
    setup: tuple[Manifest, ...]
    """Valid objects the hostile one needs, applied first."""
    hostile: Manifest
    verdict: Rejected | Expected
    local: str | None
    """A fragment of what `headwater validate` prints; None: it finds nothing wrong."""

    @property
    def documents(self) -> list[Manifest]:
        return [*self.setup, self.hostile]


def to_json(document: Manifest) -> str:
    """The document as JSON, for `kubectl create -f -` or a file. json.dumps recurses
    once a level (113 bytes of C stack each): 10,000 levels fit any thread's stack."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(max(before, 12_000))
    try:
        return json.dumps(document)
    finally:
        sys.setrecursionlimit(before)


def nested(depth: int, leaf: Any = 1) -> Any:
    """A list `depth` deep, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def resource(kind: str, name: str, spec: dict[str, Any]) -> Manifest:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}


def function(name: str, code: str = "def main(x):\n    return x\n", **spec: Any) -> Manifest:
    params = [{"name": "x", "type": "value"}]
    return resource(
        "Function",
        name,
        {"handler": "main", "code": {"inline": code}, "params": params, "outputs": ["y"], **spec},
    )


def dataflow(name: str, nodes: list[dict[str, Any]], **spec: Any) -> Manifest:
    return resource("Dataflow", name, {"nodes": nodes, **spec})


def run(name: str, flow: str = "absent", **spec: Any) -> Manifest:
    return resource("Run", name, {"dataflow": flow, **spec})


def dataset(name: str, source: dict[str, Any], **spec: Any) -> Manifest:
    return resource("Dataset", name, {"source": source, **spec})


def user(function_name: str) -> Manifest:
    """A Dataflow using the Function, so `headwater validate` checks its code (it checks
    only the Functions some Dataflow uses; the operator checks every one)."""
    node = {"name": "n", "function": function_name, "inputs": ["x"]}
    return dataflow(f"{function_name}-flow", [node])


def config_map(name: str, key: str, content: bytes) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "binaryData": {key: base64.b64encode(content).decode()},
    }


def failed(kind: str, name: str, reason: str, fragment: str) -> Expected:
    """Ready=False (Succeeded=False for a Run) with `reason`."""
    return Expected(
        kind, name, "Succeeded" if kind == "Run" else "Ready", "False", reason, fragment
    )


def invalid(kind: str, name: str, fragment: str) -> Expected:
    return failed(kind, name, INVALID_SPEC, fragment)


def ready(kind: str, name: str, reason: str, fragment: str = "") -> Expected:
    return Expected(kind, name, "Ready", "True", reason, fragment)


def json_string(total_bytes: int) -> str:
    """A string whose JSON, quotes included, is `total_bytes` long."""
    return "a" * (total_bytes - 2)


def padded_code(length: int) -> str:
    body = "def main(x):\n    return x\n"
    return body + "#" * (length - len(body) - 1) + "\n"


def f_string_code() -> str:
    """The slowest code to parse that fits: an f-string's fields cost quadratic time."""
    head, tail = "def main(x):\n    return f'", "'\n"
    return head + "{x}" * ((CODE_LENGTH - len(head) - len(tail)) // 3) + tail


# --- deep nesting in every free-form field ------------------------------------


def _deep_cases() -> list[Case]:
    cases = []
    fields: dict[str, Callable[[str, Any], Manifest]] = {
        "run-value": lambda name, v: run(name, parameters={"x": {"value": v}}),
        "function-default": lambda name, v: function(
            name, params=[{"name": "x", "type": "value", "default": v}]
        ),
        "dataset-inline": lambda name, v: dataset(name, {"inline": v}),
        "dataflow-inputs": lambda name, v: dataflow(name, [{"function": "f", "inputs": v}]),
    }
    kinds = {"run": "Run", "function": "Function", "dataset": "Dataset", "dataflow": "Dataflow"}
    for field, build in fields.items():
        kind = kinds[field.split("-")[0]]
        problem = "inputs is a list" if field == "dataflow-inputs" else TOO_DEEP
        name = f"deep-{field}-3000"
        cases.append(
            Case(
                name,
                (),
                build(name, nested(3000)),
                invalid(kind, name, problem),
                TOO_DEEP_FOR_LIBYAML,
            )
        )
        name = f"deep-{field}-9999"
        cases.append(
            Case(
                name,
                (),
                build(name, nested(9999)),
                Rejected(TOO_DEEP_FOR_THE_API),
                TOO_DEEP_FOR_LIBYAML,
            )
        )
    name = "deep-run-value-33"
    cases.append(
        Case(
            name,
            (),
            run(name, parameters={"x": {"value": nested(JSON_DEPTH + 1)}}),
            invalid("Run", name, TOO_DEEP),
            TOO_DEEP,
        )
    )
    name = "deep-dataset-inline-32"
    cases.append(
        Case(
            name,
            (),
            dataset(name, {"inline": nested(JSON_DEPTH)}),
            ready("Dataset", name, INLINE),
            None,
        )
    )
    name = "deep-unknown-field-3000"
    env = [{"name": "A", "value": "x", "extra": nested(3000)}]
    cases.append(
        Case(
            name,
            (),
            run(name, env=env),
            Rejected('unknown field "spec.env[0].extra"'),
            TOO_DEEP_FOR_LIBYAML,
        )
    )
    return cases


# --- huge values, at and over the bounds --------------------------------------


def _huge_cases() -> list[Case]:
    too_big = f"more than {JSON_BYTES} bytes as JSON"
    cases = [
        Case(
            "huge-dataset-inline-at-limit",
            (),
            dataset("huge-dataset-inline-at-limit", {"inline": json_string(JSON_BYTES)}),
            ready("Dataset", "huge-dataset-inline-at-limit", INLINE),
            None,
        ),
        Case(
            "huge-dataset-inline-over-limit",
            (),
            dataset("huge-dataset-inline-over-limit", {"inline": json_string(JSON_BYTES + 1)}),
            invalid("Dataset", "huge-dataset-inline-over-limit", too_big),
            too_big,
        ),
        Case(
            "huge-run-value-1400kib",
            (),
            run("huge-run-value-1400kib", parameters={"x": {"value": "a" * 1400 * 1024}}),
            invalid("Run", "huge-run-value-1400kib", too_big),
            too_big,
        ),
        Case(
            "huge-run-value-1600kib",
            (),
            run("huge-run-value-1600kib", parameters={"x": {"value": "a" * 1600 * 1024}}),
            Rejected(TOO_LARGE_FOR_ETCD),
            too_big,
        ),
        Case(
            "huge-run-value-3200kib",
            (),
            run("huge-run-value-3200kib", parameters={"x": {"value": "a" * 3200 * 1024}}),
            Rejected(TOO_LARGE_A_REQUEST),
            too_big,
        ),
        Case(
            "huge-code-at-limit",
            (),
            function("huge-code-at-limit", padded_code(CODE_LENGTH)),
            ready("Function", "huge-code-at-limit", CHECKED),
            None,
        ),
        Case(
            "huge-code-over-limit",
            (),
            function("huge-code-over-limit", padded_code(CODE_LENGTH + 1)),
            Rejected(f"may not be more than {CODE_LENGTH}"),
            f"at most {CODE_LENGTH} characters",
        ),
        Case(
            "huge-configmap-code",
            (
                config_map("huge-configmap-code", "code.py", padded_code(900_000).encode()),
                user("huge-configmap-code"),
            ),
            resource(
                "Function",
                "huge-configmap-code",
                {
                    "handler": "main",
                    "code": {"configMapKeyRef": {"name": "huge-configmap-code", "key": "code.py"}},
                    "params": [{"name": "x", "type": "value"}],
                },
            ),
            Expected(
                "Function",
                "huge-configmap-code",
                "Ready",
                "False",
                INVALID_CODE,
                f"at most {CODE_LENGTH}",
            ),
            f"at most {CODE_LENGTH} are allowed",
        ),
    ]
    over = {
        "description": (
            lambda name: dataflow(
                name, [{"function": "f"}], description="d" * (DESCRIPTION_LENGTH + 1)
            ),
            "spec.description",
            f"at most {DESCRIPTION_LENGTH} characters",
        ),
        "env-value": (
            lambda name: run(name, env=[{"name": "A", "value": "v" * (ENV_VALUE_LENGTH + 1)}]),
            "spec.env[0].value",
            f"at most {ENV_VALUE_LENGTH} characters",
        ),
        "env-count": (
            lambda name: run(
                name, env=[{"name": f"V{i}", "value": "v"} for i in range(MAX_ENV + 1)]
            ),
            "spec.env",
            f"at most {MAX_ENV} items",
        ),
        "image": (
            lambda name: function(name, image="i" * (IMAGE_LENGTH + 1)),
            "spec.image",
            f"at most {IMAGE_LENGTH} characters",
        ),
        "uri": (
            lambda name: dataset(name, {"uri": "s3://b/" + "k" * URI_LENGTH}),
            "spec.source.uri",
            f"at most {URI_LENGTH} characters",
        ),
        "timeout": (
            lambda name: run(name, timeoutSeconds=2**63 - 1),
            "spec.timeoutSeconds",
            f"less than or equal to {MAX_SECONDS}",
        ),
    }
    for field, (build, path, local) in over.items():
        name = f"huge-{field}"
        cases.append(Case(name, (), build(name), Rejected(path), local))
    return cases


# --- names that look like paths -----------------------------------------------

TRAVERSALS = {
    "dot": ".",
    "dotdot": "..",
    "api-path": "../../api/v1/secrets",
    "percent": "%2e%2e",
    "slash": "a/b",
}


def _name_cases() -> list[Case]:
    cases = []
    for label, bad in TRAVERSALS.items():
        name = f"name-run-dataflow-{label}"
        cases.append(
            Case(
                name,
                (),
                run(name, bad),
                Rejected("spec.dataflow in body should match"),
                NOT_A_DNS_NAME,
            )
        )
        name = f"name-output-{label}"
        cases.append(
            Case(
                name,
                (),
                function(name, outputs=[bad]),
                Rejected("spec.outputs[0] in body should match"),
                NOT_A_DATA_NAME,
            )
        )
    hidden = "name-output-hidden"
    cases.append(
        Case(
            hidden,
            (),
            function(hidden, outputs=[".headwater"]),
            Rejected("spec.outputs[0]"),
            NOT_A_DATA_NAME,
        )
    )
    traversal = TRAVERSALS["api-path"]
    secret = {"secretKeyRef": {"name": traversal, "key": "k"}}
    rejected = {
        "resume-from": (lambda n: run(n, resumeFrom="../other"), "spec.resumeFrom"),
        "resume-from-long": (lambda n: run(n, resumeFrom="r" * 64), "spec.resumeFrom"),
        "binding-dataset": (
            lambda n: run(n, parameters={"x": {"dataset": traversal}}),
            "spec.parameters.x.dataset",
        ),
        "parameter-key": (
            lambda n: run(n, parameters={"../x": {"value": 1}}),
            "every key must match",
        ),
        "node-function": (lambda n: dataflow(n, [{"function": ".."}]), "spec.nodes[0].function"),
        "node-output": (
            lambda n: dataflow(n, [{"function": "f", "outputs": [".."]}]),
            "spec.nodes[0].outputs[0]",
        ),
        "dataset-configmap": (
            lambda n: dataset(n, {"configMapKeyRef": {"name": "../x", "key": "k"}}),
            "spec.source.configMapKeyRef.name",
        ),
        "dataset-secret-key": (
            lambda n: dataset(n, {"secretKeyRef": {"name": "s", "key": "../k"}}),
            "spec.source.secretKeyRef.key",
        ),
        "function-configmap": (
            lambda n: resource(
                "Function",
                n,
                {"handler": "main", "code": {"configMapKeyRef": {"name": "..", "key": "k"}}},
            ),
            "spec.code.configMapKeyRef.name",
        ),
        "env-secret": (
            lambda n: run(n, env=[{"name": "A", "valueFrom": secret}]),
            "spec.env[0].valueFrom.secretKeyRef.name",
        ),
        "env-name": (lambda n: run(n, env=[{"name": "A=B", "value": "x"}]), "spec.env[0].name"),
        "resource-key": (
            lambda n: function(n, resources={"requests": {"../gpu": 1}}),
            "every key must match",
        ),
        "handler": (lambda n: function(n, handler="os.system"), "spec.handler"),
        "module": (
            lambda n: resource("Function", n, {"handler": "main", "code": {"module": "../../x"}}),
            "spec.code.module",
        ),
    }
    for label, (build, fragment) in rejected.items():
        name = f"name-{label}"
        local = "at most 63 characters" if label.endswith("long") else "should match pattern"
        cases.append(Case(name, (), build(name), Rejected(fragment), local))
    for label, inputs in {"input-map": {"x": "../x"}, "input-list": [".."]}.items():
        name = f"name-{label}"
        cases.append(
            Case(
                name,
                (),
                dataflow(name, [{"function": "f", "inputs": inputs}]),
                invalid("Dataflow", name, "should match pattern"),
                "should match pattern",
            )
        )
    return cases


# --- code that blows up the parser ---------------------------------------------

HOSTILE_CODE = {
    "unary-5000": ("def main(x):\n    return " + "-" * 5000 + "x\n", TOO_DEEP_CODE),
    "unary-30000": ("def main(x):\n    return " + "-" * 30000 + "x\n", TOO_DEEP_CODE),
    "unary-longest": (
        "def main(x):\n    return " + "-" * (CODE_LENGTH - 30) + "x\n",
        TOO_DEEP_CODE,
    ),
    "parentheses": (
        "def main(x):\n    return " + "(" * 30000 + "x" + ")" * 30000 + "\n",
        "too many nested parentheses",
    ),
    "lambdas": ("def main(x):\n    return " + "lambda:" * 9000 + "x\n", TOO_DEEP_CODE),
    "binary-operators": ("def main(x):\n    return " + "x+" * 30000 + "x\n", TOO_DEEP_CODE),
    "null-byte": ("def main(x):\n    return x\x00\n", "null bytes"),
}


def _code_cases() -> list[Case]:
    cases = []
    for label, (code, fragment) in HOSTILE_CODE.items():
        name = f"code-{label}"
        verdict = failed("Function", name, INVALID_CODE, fragment)
        cases.append(Case(name, (user(name),), function(name, code), verdict, fragment))
    name = "code-invalid-utf8"
    code = resource(
        "Function",
        name,
        {
            "handler": "main",
            "code": {"configMapKeyRef": {"name": name, "key": "code.py"}},
            "params": [{"name": "x", "type": "value"}],
        },
    )
    cm = config_map(name, "code.py", b"def main(x):\n    return '\xff'\n")
    cases.append(
        Case(
            name,
            (cm, user(name)),
            code,
            failed("Function", name, INVALID_CODE, "not UTF-8"),
            "not UTF-8",
        )
    )
    name = "code-slowest-valid"
    slowest = function(name, f_string_code())
    cases.append(Case(name, (user(name),), slowest, ready("Function", name, CHECKED), None))
    return cases


# --- thousands of things -------------------------------------------------------


def _nodes(
    case: str, count: int, name: Callable[[int], str], reads: Callable[[int], str]
) -> Manifest:
    """A Dataflow of `count` nodes of the case's Function: node i is named name(i), reads
    reads(i) and writes o<i>."""
    nodes = [
        {"name": name(i), "function": f"{case}-fn", "inputs": {"x": reads(i)}, "outputs": [f"o{i}"]}
        for i in range(count)
    ]
    return dataflow(case, nodes)


def _count_cases() -> list[Case]:
    def numbered(i: int) -> str:
        return f"n{i}"

    def fan_out(case: str, count: int) -> Manifest:
        return _nodes(case, count, numbered, lambda _: "x")

    def fn(case: str) -> Manifest:
        return function(f"{case}-fn")

    kwargs_code = "def main(**kw):\n    return 1\n"
    one_node = [{"name": "n", "function": "count-parameters-at-limit-fn", "inputs": ["x"]}]
    bindings = {"x": {"value": 1}} | {f"p{i}": {"value": i} for i in range(MAX_BINDINGS - 1)}
    table: list[tuple[str, tuple[Manifest, ...], Manifest, Rejected | Expected, str | None]] = [
        (
            "count-nodes-10000",
            (fn("count-nodes-10000"),),
            fan_out("count-nodes-10000", MAX_NODES),
            ready("Dataflow", "count-nodes-10000", VALID_DATAFLOW, f"{MAX_NODES} nodes"),
            None,
        ),
        (
            "count-nodes-10001",
            (fn("count-nodes-10001"),),
            fan_out("count-nodes-10001", MAX_NODES + 1),
            Rejected(f"must have at most {MAX_NODES} items"),
            f"at most {MAX_NODES} items",
        ),
        (
            "count-cycle-5000",
            (fn("count-cycle-5000"),),
            _nodes("count-cycle-5000", 5000, numbered, lambda i: f"o{(i - 1) % 5000}"),
            failed("Dataflow", "count-cycle-5000", INVALID_DATAFLOW, "cycle"),
            "cycle",
        ),
        (
            "count-duplicate-names-5000",
            (fn("count-duplicate-names-5000"),),
            _nodes("count-duplicate-names-5000", 5000, lambda _: "same", lambda _: "x"),
            failed("Dataflow", "count-duplicate-names-5000", INVALID_DATAFLOW, "unique name"),
            "unique name",
        ),
        (
            "count-free-inputs-10000",
            (
                fn("count-free-inputs-10000"),
                _nodes("count-free-inputs-10000", MAX_NODES, numbered, lambda i: f"in{i}"),
            ),
            run("count-free-inputs-10000", "count-free-inputs-10000"),
            failed("Run", "count-free-inputs-10000", INVALID_DATAFLOW, "without a default"),
            "without a default",
        ),
        (
            "count-parameters-at-limit",
            (fn("count-parameters-at-limit"), dataflow("count-parameters-at-limit", one_node)),
            run("count-parameters-at-limit", "count-parameters-at-limit", parameters=bindings),
            failed("Run", "count-parameters-at-limit", INVALID_DATAFLOW, "not a free input"),
            "not a free input",
        ),
        (
            "count-parameters-5000",
            (),
            run("count-parameters-5000", parameters={f"p{i}": {"value": i} for i in range(5000)}),
            Rejected(f"must have at most {MAX_BINDINGS}"),
            f"at most {MAX_BINDINGS} items",
        ),
        (
            "count-params-5000",
            (),
            function("count-params-5000", kwargs_code, params=_value_params(5000)),
            Rejected(f"must have at most {MAX_PARAMS} items"),
            f"at most {MAX_PARAMS} items",
        ),
        (
            "count-params-at-limit",
            (),
            function("count-params-at-limit", kwargs_code, params=_value_params(MAX_PARAMS)),
            ready("Function", "count-params-at-limit", CHECKED),
            None,
        ),
        (
            "count-node-inputs-over-limit",
            (),
            dataflow(
                "count-node-inputs-over-limit",
                [{"function": "f", "inputs": {f"p{i}": "x" for i in range(MAX_PARAMS + 1)}}],
            ),
            invalid("Dataflow", "count-node-inputs-over-limit", f"at most {MAX_PARAMS} items"),
            f"at most {MAX_PARAMS} items",
        ),
    ]
    return [Case(*row) for row in table]


def _value_params(count: int) -> list[dict[str, str]]:
    return [{"name": f"p{i}", "type": "value"} for i in range(count)]


def cases() -> list[Case]:
    """Every case, each with unique object names."""
    return [*_deep_cases(), *_huge_cases(), *_name_cases(), *_code_cases(), *_count_cases()]

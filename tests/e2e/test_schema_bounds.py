"""The generated CRDs on the real API server: each bound accepts a value at it and
rejects one just over it (naming the field), exactly as the models do; and every case
of the hostile corpus gets its recorded apply-time verdict. Only the CRDs are needed."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import install_crds
from pydantic import ValidationError

from headwater.api import RESOURCE_KINDS
from headwater.limits import (
    CODE_LENGTH,
    DATA_NAME_LENGTH,
    DESCRIPTION_LENGTH,
    ENV_NAME_LENGTH,
    ENV_VALUE_LENGTH,
    IDENTIFIER_LENGTH,
    IMAGE_LENGTH,
    KEY_LENGTH,
    MAX_BINDINGS,
    MAX_ENV,
    MAX_NODES,
    MAX_PARAMS,
    MAX_RESOURCES,
    MAX_SECONDS,
    MODULE_LENGTH,
    NAME_LENGTH,
    PARAM_DESCRIPTION_LENGTH,
    QUANTITY_LENGTH,
    RUN_NAME_LENGTH,
    URI_LENGTH,
)

sys.path.insert(0, str(Path(__file__).parents[1] / "hostile"))
from corpus import (
    Case,
    Rejected,
    cases,
    dataflow,
    dataset,
    function,
    resource,
    run,
    to_json,
)

if TYPE_CHECKING:
    from conftest import Cluster

pytestmark = pytest.mark.e2e

Build = Callable[[Any], dict[str, Any]]


def node(**fields: Any) -> dict[str, Any]:
    return {"name": "n", "function": "f", **fields}


def params(count: int, description: str = "") -> list[dict[str, Any]]:
    extra = {"description": description} if description else {}
    return [{"name": f"p{i}", "type": "value", **extra} for i in range(count)]


def module_name(length: int) -> str:
    return ("abcdefghi." * length)[: length - 1] + "x"


# field → (build from the value, the value at the bound, the value just over it).
BOUNDS: dict[str, tuple[Build, Any, Any]] = {
    "spec.dataflow": (lambda v: run("b", v), "a" * NAME_LENGTH, "a" * (NAME_LENGTH + 1)),
    "spec.resumeFrom": (
        lambda v: run("b", resumeFrom=v),
        "r" * RUN_NAME_LENGTH,
        "r" * (RUN_NAME_LENGTH + 1),
    ),
    "spec.parameters": (
        lambda n: run("b", parameters={f"p{i}": {"value": i} for i in range(n)}),
        MAX_BINDINGS,
        MAX_BINDINGS + 1,
    ),
    "spec.parameters key": (
        lambda key: run("b", parameters={key: {"value": 1}}),
        "k" * DATA_NAME_LENGTH,
        "k" * (DATA_NAME_LENGTH + 1),
    ),
    "spec.env": (
        lambda n: run("b", env=[{"name": f"V{i}", "value": "v"} for i in range(n)]),
        MAX_ENV,
        MAX_ENV + 1,
    ),
    "spec.env[0].value": (
        lambda v: run("b", env=[{"name": "V", "value": v}]),
        "v" * ENV_VALUE_LENGTH,
        "v" * (ENV_VALUE_LENGTH + 1),
    ),
    "spec.env[0].value in characters": (
        lambda v: run("b", env=[{"name": "V", "value": v}]),
        "é" * ENV_VALUE_LENGTH,
        "é" * (ENV_VALUE_LENGTH + 1),
    ),
    "spec.env[0].name": (
        lambda v: run("b", env=[{"name": v, "value": "v"}]),
        "N" * ENV_NAME_LENGTH,
        "N" * (ENV_NAME_LENGTH + 1),
    ),
    "spec.timeoutSeconds": (lambda v: run("b", timeoutSeconds=v), MAX_SECONDS, MAX_SECONDS + 1),
    "spec.ttlSecondsAfterFinished": (
        lambda v: run("b", ttlSecondsAfterFinished=v),
        MAX_SECONDS,
        MAX_SECONDS + 1,
    ),
    "spec.parallelism": (lambda v: run("b", parallelism=v), MAX_NODES, MAX_NODES + 1),
    "spec.description": (
        lambda v: dataflow("b", [node()], description=v),
        "d" * DESCRIPTION_LENGTH,
        "d" * (DESCRIPTION_LENGTH + 1),
    ),
    "spec.nodes": (
        lambda n: dataflow("b", [node(name=f"n{i}") for i in range(n)]),
        MAX_NODES,
        MAX_NODES + 1,
    ),
    "spec.nodes[0].outputs": (
        lambda n: dataflow("b", [node(outputs=[f"o{i}" for i in range(n)])]),
        MAX_PARAMS,
        MAX_PARAMS + 1,
    ),
    "spec.image": (
        lambda v: dataflow("b", [node()], image=v),
        "i" * IMAGE_LENGTH,
        "i" * (IMAGE_LENGTH + 1),
    ),
    "spec.code.inline": (
        lambda v: function("b", v),
        "#" * CODE_LENGTH,
        "#" * (CODE_LENGTH + 1),
    ),
    "spec.code.module": (
        lambda v: resource("Function", "b", {"handler": "main", "code": {"module": v}}),
        module_name(MODULE_LENGTH),
        module_name(MODULE_LENGTH + 1),
    ),
    "spec.handler": (
        lambda v: function("b", handler=v),
        "h" * IDENTIFIER_LENGTH,
        "h" * (IDENTIFIER_LENGTH + 1),
    ),
    "spec.params": (lambda n: function("b", params=params(n)), MAX_PARAMS, MAX_PARAMS + 1),
    "spec.params[0].description": (
        lambda v: function("b", params=params(1, v)),
        "d" * PARAM_DESCRIPTION_LENGTH,
        "d" * (PARAM_DESCRIPTION_LENGTH + 1),
    ),
    "spec.outputs": (
        lambda n: function("b", outputs=[f"o{i}" for i in range(n)]),
        MAX_PARAMS,
        MAX_PARAMS + 1,
    ),
    "spec.outputs[0]": (
        lambda v: function("b", outputs=[v]),
        "o" * DATA_NAME_LENGTH,
        "o" * (DATA_NAME_LENGTH + 1),
    ),
    "spec.resources.requests": (
        lambda n: function("b", resources={"requests": {f"r{i}": 1 for i in range(n)}}),
        MAX_RESOURCES,
        MAX_RESOURCES + 1,
    ),
    "spec.resources.limits.memory": (
        lambda v: function("b", resources={"limits": {"memory": v}}),
        "1" * QUANTITY_LENGTH,
        "1" * (QUANTITY_LENGTH + 1),
    ),
    "spec.source.uri": (
        lambda v: dataset("b", {"uri": v}),
        "s3://b/" + "k" * (URI_LENGTH - 7),
        "s3://b/" + "k" * (URI_LENGTH - 6),
    ),
    "spec.source.secretKeyRef.key": (
        lambda v: dataset("b", {"secretKeyRef": {"name": "s", "key": v}}),
        "k" * KEY_LENGTH,
        "k" * (KEY_LENGTH + 1),
    ),
}


@pytest.fixture(scope="module")
def crds(cluster: Cluster) -> Cluster:
    install_crds(cluster)
    return cluster


def dry_run(cluster: Cluster, namespace: str, manifest: dict[str, Any]) -> tuple[bool, str]:
    proc = cluster.kubectl(
        "create", "--dry-run=server", "-n", namespace, "-f", "-",
        input=to_json(manifest), check=False,
    )  # fmt: skip
    return proc.returncode == 0, proc.stderr


def model_accepts(manifest: dict[str, Any]) -> bool:
    try:
        RESOURCE_KINDS[manifest["kind"]].model_validate(manifest)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("field", sorted(BOUNDS))
def test_each_bound_takes_its_limit_and_refuses_one_more(
    crds: Cluster, namespace: str, field: str
) -> None:
    build, at, over = BOUNDS[field]
    accepted, message = dry_run(crds, namespace, build(at))
    assert accepted, message
    assert model_accepts(build(at))
    accepted, message = dry_run(crds, namespace, build(over))
    assert not accepted
    assert field.split()[0] in message, message
    assert not model_accepts(build(over))


def create(cluster: Cluster, namespace: str, document: dict[str, Any]) -> tuple[bool, str]:
    proc = cluster.kubectl(
        "create", "-n", namespace, "-f", "-", input=to_json(document), check=False, timeout=120
    )
    return proc.returncode == 0, proc.stderr


def mismatch(cluster: Cluster, namespace: str, case: Case) -> str | None:
    """What went differently from the recorded verdict, if anything."""
    for document in case.setup:
        created, message = create(cluster, namespace, document)
        if not created:
            return f"setup {document['kind']}/{document['metadata']['name']}: {message}"
    created, message = create(cluster, namespace, case.hostile)
    if isinstance(case.verdict, Rejected):
        if created:
            return "accepted, but should have been rejected"
        if case.verdict.fragment not in message:
            return f"rejected without {case.verdict.fragment!r}: {message[:300]}"
    elif not created:
        return f"rejected, but should have been accepted: {message[:300]}"
    return None


def test_the_corpus_gets_its_apply_time_verdicts(crds: Cluster, namespace: str) -> None:
    """Real creates, not dry runs: etcd's size limit is only met on the way to etcd."""
    wrong = {case.name: mismatch(crds, namespace, case) for case in cases()}
    assert {name: why for name, why in wrong.items() if why} == {}

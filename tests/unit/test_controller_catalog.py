"""Ready conditions of Datasets, Functions and Dataflows as the catalog computes them
from the cache: what a push recorded, what a probe found, what the checks say."""

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import Future

import pytest

from headwater.api import ConditionStatus
from headwater.artifacts.published import PUSHED_SHA256, PUSHED_SIZE
from headwater.controller.cache import ObjectCache
from headwater.controller.catalog import LEVELS_BUDGET, Catalog
from headwater.controller.probe import ProbeResult
from headwater.controller.settings import STORE_MOUNT_PATH, OperatorSettings, StoreSettings
from headwater.controller.workqueue import WorkQueue

NS = "team-a"
OBJECT_STORE = OperatorSettings(store=StoreSettings(url="s3://headwater"))
PVC_STORE = OperatorSettings()
SHA = "5" * 64


class Probes:
    """Answers probes at once with the result the test set, and counts them."""

    def __init__(self, result: ProbeResult | None = None) -> None:
        self.result = result
        self.asked: list[tuple[str, str]] = []

    def submit(self, namespace: str, uri: str) -> "Future[ProbeResult] | None":
        self.asked.append((namespace, uri))
        if self.result is None:
            return None  # one of the namespace's probes is in flight
        future: Future[ProbeResult] = Future()
        future.set_result(self.result)
        return future


class ConfigMaps:
    """The namespace's ConfigMaps, as the catalog looks them up by name."""

    def __init__(self, maps: dict[str, dict[str, bytes]]) -> None:
        self.maps = maps

    def config_map_values(self, namespace: str, name: str) -> dict[str, bytes] | None:
        return self.maps.get(name)

    def config_maps_of(self, namespace: str) -> Callable[[str], dict[str, bytes] | None]:
        return lambda name: self.config_map_values(namespace, name)


def catalog(
    settings: OperatorSettings = OBJECT_STORE,
    probes: Probes | None = None,
    maps: dict[str, dict[str, bytes]] | None = None,
) -> Catalog:
    return Catalog(
        ConfigMaps(maps or {}),  # type: ignore[arg-type]
        ObjectCache(),
        WorkQueue(),
        settings,
        prober=probes or Probes(),  # type: ignore[arg-type]
    )


def dataset(source: dict, annotations: dict | None = None, **extra: object) -> dict:
    return {
        "apiVersion": "headwater.dev/v1alpha1",
        "kind": "Dataset",
        "metadata": {
            "name": "radar",
            "namespace": NS,
            "uid": "uid-radar",
            "generation": 2,
            "resourceVersion": "7",
            "annotations": annotations or {},
        },
        "spec": {"source": source},
        **extra,
    }


def pushed(sha256: str = SHA, size: str = "1234") -> dict[str, str]:
    return {PUSHED_SHA256: sha256, PUSHED_SIZE: size}


def ready(status: object) -> tuple[object, str, str]:
    condition = next(c for c in status.conditions if c.type == "Ready")  # type: ignore[attr-defined]
    return condition.status, condition.reason, condition.message


# Datasets in a PVC store, which the operator cannot look into.


def test_a_pushed_file_in_the_pvc_is_ready_with_what_the_push_recorded() -> None:
    status = catalog(PVC_STORE).dataset_status(dataset({"uri": "radar.csv"}, pushed()))
    assert status is not None
    ok, reason, message = ready(status)
    assert (ok, reason) == (ConditionStatus.TRUE, "Pushed")
    uri = f"{STORE_MOUNT_PATH}/radar.csv"
    assert uri in message and "headwater-artifacts" in message
    assert (status.uri, status.size, status.sha256, status.format) == (uri, 1234, SHA, "csv")
    assert status.observed_generation == 2


@pytest.mark.parametrize(
    "annotations",
    [{}, {PUSHED_SHA256: SHA}, {PUSHED_SIZE: "12"}, pushed(size="12kB"), pushed(size="-1")],
)
def test_nothing_or_a_broken_record_in_the_pvc_is_not_pushed_naming_the_path(
    annotations: dict,
) -> None:
    status = catalog(PVC_STORE).dataset_status(dataset({"uri": "data/radar.csv"}, annotations))
    assert status is not None
    ok, reason, message = ready(status)
    assert (ok, reason) == (ConditionStatus.FALSE, "NotPushed")
    assert f"{STORE_MOUNT_PATH}/data/radar.csv" in message
    assert "headwater dataset push radar" in message
    assert status.sha256 is None and status.size is None


def test_a_path_outside_the_pvc_is_never_probed() -> None:
    probes = Probes(ProbeResult(True, "Reachable", "x", size=1))
    status = catalog(PVC_STORE, probes).dataset_status(dataset({"uri": "/etc/passwd"}))
    assert status is not None
    assert ready(status)[:2] == (ConditionStatus.UNKNOWN, "NotChecked")
    assert probes.asked == []


# Datasets in an object store, probed in the background.


def probed(result: ProbeResult, annotations: dict | None = None) -> tuple[Catalog, object]:
    """The status after the probe answered (the first look only starts it)."""
    probes = Probes(result)
    found = catalog(OBJECT_STORE, probes)
    body = dataset({"uri": "radar.csv"}, annotations)
    assert found.dataset_status(body) is None, "probing; the answer queues the Dataset"
    assert found.queue.get(timeout=0) == ("datasets", NS, "radar")
    status = found.dataset_status(body)
    assert probes.asked == [(NS, "s3://headwater/team-a/radar.csv")], "probed once"
    return found, status


def test_a_pushed_file_probed_with_the_pushed_size_keeps_the_pushed_sha256() -> None:
    result = ProbeResult(True, "Reachable", "s3://headwater/team-a/radar.csv", 1234, "etag-1")
    _, status = probed(result, pushed())
    assert ready(status)[:2] == (ConditionStatus.TRUE, "Reachable")
    assert (status.size, status.sha256, status.version) == (1234, SHA, "etag-1")  # type: ignore[attr-defined]


def test_a_file_whose_size_differs_from_the_push_has_no_sha256() -> None:
    # Someone wrote other bytes there since the push: the recorded sha256 is not theirs.
    result = ProbeResult(True, "Reachable", "s3://headwater/team-a/radar.csv", 999, "etag-2")
    _, status = probed(result, pushed())
    assert (status.size, status.sha256, status.version) == (999, None, "etag-2")  # type: ignore[attr-defined]


def test_a_pushed_file_gone_from_the_store_is_not_ready() -> None:
    result = ProbeResult(False, "NotFound", "s3://headwater/team-a/radar.csv: no such file")
    _, status = probed(result, pushed())
    assert ready(status) == (
        ConditionStatus.FALSE,
        "NotFound",
        "s3://headwater/team-a/radar.csv: no such file",
    )
    assert status.sha256 is None  # type: ignore[attr-defined]


def test_while_another_probe_of_the_namespace_runs_the_dataset_looks_again_soon() -> None:
    probes = Probes(None)
    found = catalog(OBJECT_STORE, probes)
    assert found.dataset_status(dataset({"uri": "radar.csv"})) is None
    assert len(found.queue) == 0, "queued after a delay, not at once"


def test_another_bucket_is_not_checked_unless_the_platform_allows_it() -> None:
    body = dataset({"uri": "s3://other-team/radar.csv"})
    probes = Probes(ProbeResult(True, "Reachable", "s3://other-team/radar.csv", 5))
    status = catalog(OBJECT_STORE, probes).dataset_status(body)
    assert status is not None
    ok, reason, message = ready(status)
    assert (ok, reason) == (ConditionStatus.UNKNOWN, "NotChecked")
    assert "s3://other-team/radar.csv" in message and "--dataset-probe-allow" in message
    assert probes.asked == []
    allowing = OBJECT_STORE.model_copy(update={"dataset_probe_allow": ("s3://other-team/*",)})
    found = catalog(allowing, probes)
    assert found.dataset_status(body) is None
    assert probes.asked == [(NS, "s3://other-team/radar.csv")]


# Datasets from inline values, ConfigMaps and Secrets.


def test_inline_values_are_ready_with_their_digest() -> None:
    status = catalog().dataset_status(dataset({"inline": {"b": 2, "a": 1}}))
    assert status is not None
    assert ready(status)[:2] == (ConditionStatus.TRUE, "Inline")
    expected = json.dumps({"a": 1, "b": 2}, sort_keys=True).encode()
    assert status.sha256 == hashlib.sha256(expected).hexdigest()
    assert status.size == len(expected) and status.format == "json"


def test_a_configmap_key_is_found_or_said_missing() -> None:
    source = {"configMapKeyRef": {"name": "radar-data", "key": "radar.csv"}}
    maps = {"radar-data": {"radar.csv": b"a,b\n"}}
    status = catalog(maps=maps).dataset_status(dataset(source))
    assert status is not None
    assert ready(status)[:2] == (ConditionStatus.TRUE, "Found")
    assert status.sha256 == hashlib.sha256(b"a,b\n").hexdigest() and status.size == 4
    missing_key = catalog(maps={"radar-data": {}}).dataset_status(dataset(source))
    assert ready(missing_key)[:2] == (ConditionStatus.FALSE, "KeyNotFound")
    missing_map = catalog().dataset_status(dataset(source))
    assert ready(missing_map) == (
        ConditionStatus.FALSE,
        "ConfigMapNotFound",
        "ConfigMap radar-data not found",
    )


def test_a_secret_is_never_read() -> None:
    source = {"secretKeyRef": {"name": "creds", "key": "token.json"}}
    status = catalog().dataset_status(dataset(source))
    assert status is not None
    assert ready(status)[:2] == (ConditionStatus.UNKNOWN, "NotChecked")
    assert status.uri == "secret:creds/token.json" and status.sha256 is None


def test_an_unreadable_dataset_is_not_ready_with_reason_invalid_spec() -> None:
    status = catalog().dataset_status(dataset({"uri": "a.csv", "inline": [1]}))
    assert status is not None
    assert ready(status)[:2] == (ConditionStatus.FALSE, "InvalidSpec")


def test_an_unchanged_status_is_not_written_again_even_when_checked_later() -> None:
    # Kube here has no replace_status: a write would fail the test.
    found = catalog(PVC_STORE)
    body = dataset({"uri": "radar.csv"}, pushed())
    first = found.dataset_status(body)
    assert first is not None
    stored = first.model_dump(mode="json", by_alias=True, exclude_none=True)
    found.cache.put("datasets", {**body, "status": stored})
    found.check("datasets", NS, "radar")
    assert found.dataset_status(found.cache.get("datasets", NS, "radar")).last_checked == (
        first.last_checked
    )
    assert not found.due("datasets", found.cache.get("datasets", NS, "radar"))
    assert found.due("datasets", {**body, "metadata": {**body["metadata"], "generation": 3}})


# Functions and Dataflows.


def function(name: str, code: str | dict, params: list[str] | None = None) -> dict:
    return {
        "apiVersion": "headwater.dev/v1alpha1",
        "kind": "Function",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "generation": 1},
        "spec": {
            "handler": "run",
            "code": code if isinstance(code, dict) else {"inline": code},
            "params": [{"name": p} for p in params or []],
            "outputs": ["out"],
        },
    }


def test_a_function_whose_handler_takes_its_params_is_checked() -> None:
    status = catalog().function_status(function("prep", "def run(x):\n    return x\n", ["x"]))
    assert ready(status)[:2] == (ConditionStatus.TRUE, "Checked")


def test_a_function_whose_handler_differs_from_its_params_is_invalid_code() -> None:
    status = catalog().function_status(function("prep", "def run(y):\n    return y\n", ["x"]))
    ok, reason, message = ready(status)
    assert (ok, reason) == (ConditionStatus.FALSE, "InvalidCode")
    assert "x" in message


def test_a_function_whose_code_configmap_is_missing_says_which() -> None:
    code = {"configMapKeyRef": {"name": "prep-code", "key": "prep.py"}}
    ok, reason, message = ready(catalog().function_status(function("prep", code)))
    assert (ok, reason) == (ConditionStatus.FALSE, "CodeNotFound")
    assert "prep-code" in message
    maps = {"prep-code": {"prep.py": b"def run(x):\n    return x\n"}}
    found = catalog(maps=maps).function_status(function("prep", code, ["x"]))
    assert ready(found)[:2] == (ConditionStatus.TRUE, "Checked")


def dataflow(nodes: list[dict]) -> dict:
    return {
        "apiVersion": "headwater.dev/v1alpha1",
        "kind": "Dataflow",
        "metadata": {"name": "flow", "namespace": NS, "uid": "uid-flow", "generation": 4},
        "spec": {"nodes": nodes},
    }


def with_functions(*names: str) -> Catalog:
    found = catalog()
    found.cache.put("functions", function("source", "def run():\n    return 1\n"))
    for name in names:
        found.cache.put("functions", function(name, "def run(x):\n    return x\n", ["x"]))
    return found


def test_a_dataflow_naming_a_missing_function_is_invalid_naming_it() -> None:
    found = with_functions("prepare")
    status = found.dataflow_status(dataflow([{"name": "a", "function": "prepar"}]))
    ok, reason, message = ready(status)
    assert (ok, reason) == (ConditionStatus.FALSE, "InvalidDataflow")
    assert "'prepar', which does not exist" in message
    assert status.observed_generation == 4


def test_a_valid_dataflow_reports_its_nodes_and_levels() -> None:
    found = with_functions("prep")
    nodes = [
        {"name": "a", "function": "source", "outputs": ["ax"]},
        {"name": "b", "function": "prep", "inputs": {"x": "ax"}, "outputs": ["bx"]},
        {"name": "c", "function": "prep", "inputs": {"x": "ax"}},
    ]
    status = found.dataflow_status(dataflow(nodes))
    assert ready(status)[:2] == (ConditionStatus.TRUE, "Valid")
    assert (status.node_count, status.depth) == (3, 2)
    assert status.levels == [["a"], ["b", "c"]]


def test_the_levels_of_the_widest_dataflow_are_left_out_of_its_status() -> None:
    found = with_functions("prep")
    nodes = [
        {"name": f"{'n' * 57}-{i:05d}", "function": "source", "outputs": [f"out-{i:05d}"]}
        for i in range(10_000)
    ]
    status = found.dataflow_status(dataflow(nodes))
    assert ready(status)[:2] == (ConditionStatus.TRUE, "Valid")
    assert status.levels is None, f"levels beyond {LEVELS_BUDGET} bytes"
    assert (status.node_count, status.depth) == (10_000, 1)
    assert len(json.dumps(status.model_dump(mode="json", by_alias=True))) < LEVELS_BUDGET

"""A Run's snapshot ConfigMap: each Function's code stored once, read back whole; and
what freezing says when something the Run names is missing."""

import pytest

from headwater.api import (
    DataflowSpec,
    Dataset,
    FunctionSpec,
    ObjectMeta,
    Run,
    RunSpec,
)
from headwater.controller.cache import ObjectCache
from headwater.controller.jobs import code_key
from headwater.controller.settings import OperatorSettings
from headwater.controller.snapshots import (
    SNAPSHOT_KEY,
    Invalid,
    Missing,
    NotReady,
    absolute_uri,
    freeze,
    read_snapshot,
    resolve_in_cluster,
    snapshot_config_map,
)
from headwater.snapshot import Snapshot

CODE_LENGTH = 65_536
RUN = Run(
    metadata=ObjectMeta(name="r1", namespace="team-a", uid="uid-1"),
    spec=RunSpec(dataflow="flow"),
)


def function(code: dict) -> FunctionSpec:
    return FunctionSpec(handler="f", code=code, outputs=["out"])


def big_code(tag: str) -> str:
    """Source of the longest a Function may have, different for each tag."""
    head = f"def f():\n    return {tag!r}\n"
    return head + "#" * (CODE_LENGTH - len(head))


def snapshot(functions: dict[str, FunctionSpec]) -> Snapshot:
    nodes = [{"name": f"n{i}", "function": name} for i, name in enumerate(functions)]
    return Snapshot(dataflow=DataflowSpec(nodes=nodes), functions=functions)


def test_each_functions_code_is_stored_once_even_at_the_longest() -> None:
    names = [f"fn-{i}" for i in range(12)]
    frozen = snapshot({name: function({"inline": big_code(name)}) for name in names})
    data = snapshot_config_map(RUN, frozen)["data"]
    for name in names:
        code = big_code(name)
        assert data[code_key(name)] == code
        assert sum(value.count(code) for value in data.values()) == 1
    code_bytes = 12 * CODE_LENGTH
    total = sum(len(value) for value in data.values())
    assert total < code_bytes + 16 * 1024, "snapshot.json holds no second copy"
    assert len(data[SNAPSHOT_KEY]) < 16 * 1024


def test_the_config_map_is_immutable_owned_by_the_run_and_labelled() -> None:
    manifest = snapshot_config_map(RUN, snapshot({"f": function({"inline": "def f(): ..."})}))
    assert manifest["immutable"] is True
    assert manifest["metadata"]["namespace"] == "team-a"
    assert [o["uid"] for o in manifest["metadata"]["ownerReferences"]] == ["uid-1"]
    assert manifest["metadata"]["labels"]["headwater.dev/run"] == "r1"


def test_code_read_back_is_the_code_frozen_and_the_users_configmap_is_still_named() -> None:
    read = {
        "inline": "def f():\n    return 2\n",
        "configMapKeyRef": {"name": "team-code", "key": "p.py"},
    }
    frozen = snapshot(
        {
            "inline": function({"inline": "def f():\n    return 1\n"}),
            "from-cm": function(read),
            "module": function({"module": "team.tools"}),
        }
    )
    back = read_snapshot(snapshot_config_map(RUN, frozen))
    assert back == frozen
    assert back.functions["inline"].code.config_map_key_ref is None, "its own key is no name"
    assert back.functions["from-cm"].code.config_map_key_ref.name == "team-code"


def test_a_function_with_a_253_character_name_gets_a_valid_key() -> None:
    name = "f" * 253
    manifest = snapshot_config_map(RUN, snapshot({name: function({"inline": "def f(): ..."})}))
    keys = set(manifest["data"]) - {SNAPSHOT_KEY}
    assert len(keys) == 1 and all(len(key) <= 253 for key in keys)
    assert read_snapshot(manifest).functions[name].code.inline == "def f(): ..."


@pytest.mark.parametrize("data", [{}, {SNAPSHOT_KEY: "{not json"}, {SNAPSHOT_KEY: "{}"}])
def test_an_unreadable_snapshot_fails_the_run_with_a_reason(data: dict) -> None:
    with pytest.raises(Invalid) as caught:
        read_snapshot({"metadata": {"name": "r1-snapshot-abc123"}, "data": data})
    assert caught.value.reason == "SnapshotUnreadable"


def test_relative_dataset_uris_live_in_the_store_and_others_stay() -> None:
    assert absolute_uri("data/radar.csv", "s3://hw/team-a") == "s3://hw/team-a/data/radar.csv"
    assert absolute_uri("s3://other/radar.csv", "s3://hw/team-a") == "s3://other/radar.csv"
    assert absolute_uri("/abs/radar.csv", "/var/lib/headwater/store") == "/abs/radar.csv"


def dataset(source: dict, generation: int = 1, status: dict | None = None) -> Dataset:
    body = {
        "metadata": {"name": "radar", "namespace": "team-a", "generation": generation},
        "spec": {"source": source},
    }
    if status is not None:
        body["status"] = status
    return Dataset.model_validate(body)


def test_a_uri_datasets_content_is_known_only_from_a_check_of_this_generation() -> None:
    checked = {"observedGeneration": 2, "sha256": "ab" * 32}
    current = resolve_in_cluster(dataset({"uri": "radar.csv"}, 2, checked), None, "s3://hw/t", "t")
    assert not isinstance(current, str)
    assert current.uri == "s3://hw/t/radar.csv" and current.format == "csv"
    assert current.content is not None and "ab" * 32 in current.content
    stale = resolve_in_cluster(dataset({"uri": "radar.csv"}, 3, checked), None, "s3://hw/t", "t")
    assert not isinstance(stale, str) and stale.content is None
    by_version = {"observedGeneration": 2, "version": "etag-1"}
    versioned = resolve_in_cluster(dataset({"uri": "a.csv"}, 2, by_version), None, "s3://h", "t")
    assert not isinstance(versioned, str) and "etag-1" in (versioned.content or "")


def test_an_inline_dataset_is_resolved_with_its_content() -> None:
    found = resolve_in_cluster(dataset({"inline": {"a": 1}}), None, "s3://hw/t", "t")
    assert not isinstance(found, str)
    assert found.is_inline and found.inline == {"a": 1} and found.format == "json"
    other = resolve_in_cluster(dataset({"inline": {"a": 2}}), None, "s3://hw/t", "t")
    assert not isinstance(other, str) and other.content != found.content


def cache_with(kind: str, *names: str) -> ObjectCache:
    cache = ObjectCache()
    for i, name in enumerate(names):
        cache.put(kind, {"metadata": {"name": name, "namespace": "team-a", "uid": f"u{i}"}})
    return cache


def test_a_missing_dataflow_is_named_with_the_closest_one() -> None:
    catalog = cache_with("dataflows", "flow-v2", "other")
    with pytest.raises(NotReady) as caught:
        freeze(RUN, None, catalog, OperatorSettings())
    assert caught.value.reason == "DataflowNotFound"
    assert str(caught.value) == "waiting for Dataflow flow (did you mean 'flow-v2'?)"


def test_missing_functions_are_each_named_once_with_the_closest_one() -> None:
    catalog = cache_with("functions", "prepare", "train")
    flow = {
        "metadata": {"name": "flow", "namespace": "team-a", "uid": "f"},
        "spec": {
            "nodes": [
                {"name": "a", "function": "prepar"},
                {"name": "b", "function": "prepar"},
                {"name": "c", "function": "trian"},
            ]
        },
    }
    catalog.put("dataflows", flow)
    with pytest.raises(NotReady) as caught:
        freeze(RUN, None, catalog, OperatorSettings())
    assert caught.value.reason == "FunctionNotFound"
    assert str(caught.value) == (
        "waiting for Function prepar (did you mean 'prepare'?);"
        " Function trian (did you mean 'train'?)"
    )


class CountingCache(ObjectCache):
    def __init__(self) -> None:
        super().__init__()
        self.listed = 0

    def items(self, kind: str, namespace: str | None = None) -> list[dict]:
        self.listed += 1
        return super().items(kind, namespace)


def test_missing_lists_the_namespace_only_when_something_is_missing_and_once() -> None:
    catalog = CountingCache()
    for i in range(2000):
        catalog.put("datasets", {"metadata": {"name": f"set-{i}", "namespace": "team-a"}})
    missing = Missing(catalog, "datasets", "team-a")
    assert catalog.listed == 0
    said = [missing("Dataset", f"sett-{i}") for i in range(50)]
    assert catalog.listed == 1
    assert said[0].startswith("Dataset sett-0")
    assert Missing(catalog, "datasets", "empty")("Dataset", "x") == "Dataset x"

"""The namespace's result cache in a cluster: what a finished Run offers (only what it
computed), what later Runs find (only entries whose Run still exists), and the reuse
those entries lead to, by fingerprint and age."""

import json
from datetime import UTC, datetime, timedelta

from headwater.api import (
    Binding,
    DataflowSpec,
    FunctionSpec,
    NodePhase,
    NodeStatus,
    ObjectMeta,
    Run,
    RunSpec,
    RunStatus,
)
from headwater.controller.cache import ObjectCache
from headwater.controller.results import ENTRIES_KEY, KIND, Offers, entries_config_map
from headwater.fingerprint import Fingerprint, fingerprints
from headwater.graph import build_graph
from headwater.reuse import plan
from headwater.snapshot import Snapshot

ROOT = "s3://headwater/team-a"
T0 = datetime(2026, 6, 12, 10, 0, tzinfo=UTC)
SNAPSHOT = Snapshot(
    dataflow=DataflowSpec(
        nodes=[
            {"name": "load", "function": "load", "inputs": ["threshold"], "outputs": ["raw"]},
            {"name": "prep", "function": "prep", "inputs": {"x": "raw"}, "outputs": ["clean"]},
            {"name": "noisy", "function": "clock", "inputs": {"x": "clean"}, "outputs": ["now"]},
            {"name": "fit", "function": "prep", "inputs": {"x": "clean"}, "outputs": ["model"]},
        ]
    ),
    functions={
        "load": FunctionSpec(
            handler="f",
            code={"inline": "def f(threshold): ..."},
            params=[{"name": "threshold", "type": "value"}],
            outputs=["out"],
        ),
        "prep": FunctionSpec(
            handler="f", code={"inline": "def f(x): ..."}, params=[{"name": "x"}], outputs=["out"]
        ),
        "clock": FunctionSpec(
            handler="f",
            code={"inline": "def f(x): ..."},
            params=[{"name": "x"}],
            outputs=["out"],
            cache=False,
        ),
    },
)
GRAPH = build_graph(SNAPSHOT.dataflow, SNAPSHOT.functions)


def make_run(name: str, uid: str, threshold: float = 0.5) -> Run:
    return Run(
        metadata=ObjectMeta(name=name, namespace="team-a", uid=uid),
        spec=RunSpec(dataflow="flow", parameters={"threshold": Binding(value=threshold)}, cache={}),
    )


def done(phase: NodePhase = NodePhase.SUCCEEDED, **fields: object) -> NodeStatus:
    return NodeStatus(phase=phase, finished_at=T0, **fields)


FINISHED = RunStatus(
    nodes={
        "load": done(),
        "prep": done(),
        "noisy": done(),
        "fit": done(NodePhase.FAILED),
    }
)


def prints(run: Run) -> dict[str, Fingerprint]:
    found = fingerprints(SNAPSHOT, GRAPH, run.spec.parameters, run.spec.env)
    assert all(isinstance(p, Fingerprint) for p in found.values())
    return found  # type: ignore[return-value]


def offered(manifest: dict) -> dict[str, dict]:
    return json.loads(manifest["data"][ENTRIES_KEY])


def test_a_run_offers_only_what_it_computed_and_may_be_cached() -> None:
    run = make_run("r1", "uid-1")
    manifest = entries_config_map(run, SNAPSHOT, GRAPH, FINISHED, ROOT)
    assert manifest is not None
    entries = offered(manifest)
    mine = prints(run)
    assert set(entries) == {mine["load"].digest, mine["prep"].digest}, (
        "not noisy (cache: false), not fit (failed)"
    )
    assert entries[mine["prep"].digest]["node"] == "prep"
    assert entries[mine["prep"].digest]["outputs"] == [f"{ROOT}/runs/r1/prep/clean"]
    assert manifest["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert manifest["metadata"]["namespace"] == "team-a"


def test_results_a_run_reused_are_not_offered_again_and_nothing_gives_no_config_map() -> None:
    run = make_run("r2", "uid-2")
    reused = RunStatus(nodes={n: done(reused_from="r1") for n in FINISHED.nodes})
    assert entries_config_map(run, SNAPSHOT, GRAPH, reused, ROOT) is None
    failed = RunStatus(nodes={"load": done(NodePhase.FAILED)})
    assert entries_config_map(run, SNAPSHOT, GRAPH, failed, ROOT) is None


def cached(*runs: tuple[Run, RunStatus], resource_version: str = "1") -> ObjectCache:
    cache = ObjectCache()
    for run, status in runs:
        manifest = entries_config_map(run, SNAPSHOT, GRAPH, status, ROOT)
        assert manifest is not None
        manifest["metadata"]["resourceVersion"] = resource_version
        cache.put(KIND, manifest)
        cache.put("runs", {"metadata": run.metadata.model_dump(mode="json", by_alias=True)})
    return cache


def test_a_later_run_with_the_same_inputs_reuses_and_a_changed_input_reruns_below_it() -> None:
    cache = cached((make_run("r1", "uid-1"), FINISHED))
    offers = Offers(cache).of("team-a")
    same = make_run("r2", "uid-2")
    decided = plan(GRAPH, SNAPSHOT, prints(same), None, offers, T0 + timedelta(hours=1))
    assert set(decided.reuse) == {"load", "prep"}
    assert decided.reuse["prep"].run == "r1" and decided.reuse["prep"].cached
    assert decided.reuse["prep"].outputs == [f"{ROOT}/runs/r1/prep/clean"]
    changed = make_run("r3", "uid-3", threshold=0.9)
    decided = plan(GRAPH, SNAPSHOT, prints(changed), None, offers, T0 + timedelta(hours=1))
    assert decided.reuse == {}
    assert decided.reasons["prep"] == "not in the cache"


def test_a_result_older_than_the_max_age_is_not_reused() -> None:
    offers = Offers(cached((make_run("r1", "uid-1"), FINISHED))).of("team-a")
    later = prints(make_run("r2", "uid-2"))
    an_hour = 3600
    fresh = plan(GRAPH, SNAPSHOT, later, None, offers, T0 + timedelta(seconds=an_hour), an_hour)
    assert set(fresh.reuse) == {"load", "prep"}
    stale = plan(GRAPH, SNAPSHOT, later, None, offers, T0 + timedelta(seconds=an_hour + 1), an_hour)
    assert stale.reuse == {} and stale.reasons["load"] == "cached result too old"


def test_entries_of_a_deleted_or_recreated_run_are_not_offered() -> None:
    first = make_run("r1", "uid-1")
    cache = cached((first, FINISHED), (make_run("other", "uid-9", threshold=0.1), FINISHED))
    assert {e.run for e in Offers(cache).of("team-a").values()} == {"r1", "other"}
    cache.remove("runs", "team-a", "other")
    assert {e.run for e in Offers(cache).of("team-a").values()} == {"r1"}
    # r1 deleted and applied again: the new Run may overwrite the outputs the entry names.
    cache.put("runs", {"metadata": {"name": "r1", "namespace": "team-a", "uid": "uid-new"}})
    assert Offers(cache).of("team-a") == {}
    assert Offers(cache).of("team-b") == {}


def test_entries_are_parsed_once_per_config_map_version() -> None:
    run = make_run("r1", "uid-1")
    cache = cached((run, FINISHED))
    offers = Offers(cache)
    assert len(offers.of("team-a")) == 2
    body = cache.get(
        KIND, "team-a", entries_config_map(run, SNAPSHOT, GRAPH, FINISHED, ROOT)["metadata"]["name"]
    )
    assert body is not None
    # The same version with other data is the same object: the parse held is used.
    body["data"] = {ENTRIES_KEY: "{}"}
    assert len(offers.of("team-a")) == 2
    body["metadata"]["resourceVersion"] = "2"
    assert offers.of("team-a") == {}


def test_of_two_runs_offering_the_same_result_the_newest_is_offered() -> None:
    # After a restart the cache is filled from a LIST, in name order: an older result of
    # a Run whose name sorts later must not hide a newer one (maxAgeSeconds would refuse).
    older = RunStatus(
        nodes={
            n: s.model_copy(update={"finished_at": T0 - timedelta(days=30)})
            for n, s in FINISHED.nodes.items()
        }
    )
    for order in ([("a-new", FINISHED), ("z-old", older)], [("z-old", older), ("a-new", FINISHED)]):
        cache = cached(*((make_run(name, f"uid-{name}"), status) for name, status in order))
        offers = Offers(cache).of("team-a")
        assert {e.run for e in offers.values()} == {"a-new"}, order
        later = prints(make_run("r2", "uid-2"))
        decided = plan(GRAPH, SNAPSHOT, later, None, offers, T0 + timedelta(hours=1), 86_400)
        assert set(decided.reuse) == {"load", "prep"}


def test_unreadable_entries_offer_nothing_and_break_nothing() -> None:
    run = make_run("r1", "uid-1")
    cache = cached((run, FINISHED))
    body = cache.items(KIND, "team-a")[0]
    for data in ({ENTRIES_KEY: "not json"}, {ENTRIES_KEY: '{"d": {"node": 1}}'}, None):
        body["data"] = data
        body["metadata"]["resourceVersion"] = str(int(body["metadata"]["resourceVersion"]) + 1)
        assert Offers(cache).of("team-a") == {}

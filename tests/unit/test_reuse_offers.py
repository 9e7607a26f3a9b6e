"""What a finished Run offers the cache: only what it computed itself, succeeded, with a
known fingerprint, from a Function that allows caching. Both executors record these."""

from datetime import UTC, datetime

from headwater.api import (
    Binding,
    DataflowSpec,
    FunctionSpec,
    NodePhase,
    NodeStatus,
    Run,
    RunStatus,
)
from headwater.fingerprint import fingerprints
from headwater.graph import build_graph
from headwater.reuse import offers
from headwater.snapshot import ResolvedDataset, Snapshot

WHEN = datetime(2026, 12, 1, tzinfo=UTC)
FINISHED = datetime(2026, 11, 30, tzinfo=UTC)


def spec(params: list[dict], outputs: list[str], cache: bool = True) -> FunctionSpec:
    return FunctionSpec(
        handler="f",
        code={"inline": "def f(**kw): ..."},
        params=params,
        outputs=outputs,
        cache=cache,
    )


SNAPSHOT = Snapshot(
    dataflow=DataflowSpec(
        nodes=[
            {"name": "a", "function": "first", "inputs": ["x"], "outputs": ["one"]},
            {"name": "b", "function": "next", "inputs": {"v": "one"}, "outputs": ["two"]},
            {"name": "c", "function": "effect", "inputs": {"v": "two"}, "outputs": ["three"]},
            {"name": "d", "function": "next", "inputs": {"v": "three"}, "outputs": ["four"]},
            {"name": "s", "function": "secret", "inputs": ["token"], "outputs": ["five"]},
        ]
    ),
    functions={
        "first": spec([{"name": "x", "type": "value"}], ["one"]),
        "next": spec([{"name": "v"}], ["out"]),
        "effect": spec([{"name": "v"}], ["out"], cache=False),
        "secret": spec([{"name": "token", "type": "path"}], ["out"]),
    },
    # A Secret's content is never read, so its readers have no fingerprint.
    datasets={
        "token": ResolvedDataset(
            uri="/secrets/token", format="text", secret_key_ref={"name": "s", "key": "k"}
        )
    },
)
RUN = Run.model_validate(
    {
        "metadata": {"name": "now", "namespace": "team"},
        "spec": {
            "dataflow": "flow",
            "parameters": {"x": Binding(value=3), "token": Binding(dataset="token")},
        },
    }
)


def succeeded(**fields: object) -> NodeStatus:
    return NodeStatus(phase=NodePhase.SUCCEEDED, **fields)


def test_only_what_the_run_computed_and_may_share_is_offered() -> None:
    graph = build_graph(SNAPSHOT.dataflow, SNAPSHOT.functions)
    status = RunStatus(
        nodes={
            "a": succeeded(finished_at=FINISHED),
            "b": succeeded(reused_from="before"),  # not its own result
            "c": succeeded(),  # its Function has side effects
            "d": NodeStatus(phase=NodePhase.FAILED),
            "s": succeeded(),  # reads a dataset of unknown content
        }
    )
    (offer,) = offers(RUN, SNAPSHOT, graph, status, "/store/team", WHEN)
    prints = fingerprints(SNAPSHOT, graph, RUN.spec.parameters, RUN.spec.env)
    assert offer.digest == prints["a"].digest  # type: ignore[union-attr]
    assert (offer.node, offer.function, offer.finished_at) == ("a", "first", FINISHED)
    assert offer.outputs == ["/store/team/runs/now/a/one"]


def test_a_result_without_a_finish_time_is_dated_when_offered() -> None:
    graph = build_graph(SNAPSHOT.dataflow, SNAPSHOT.functions)
    status = RunStatus(nodes={"a": succeeded(), "d": succeeded()})
    found = {o.node: o for o in offers(RUN, SNAPSHOT, graph, status, "/store/team", WHEN)}
    # d's upstream c is uncacheable but d itself is: its fingerprint is still known.
    assert set(found) == {"a", "d"}
    assert found["a"].finished_at == WHEN

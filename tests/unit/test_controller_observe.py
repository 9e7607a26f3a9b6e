"""Reading a node's state from its Job and Pods (pure), and building its Job."""

from headwater.api import NodePhase, Run
from headwater.controller.jobs import job_manifest
from headwater.controller.observe import observe_job, pod_trouble
from headwater.controller.settings import OperatorSettings, StoreSettings
from headwater.runner.result import RunnerResult
from headwater.snapshot import Snapshot
from headwater.task import Task

T = "2026-12-02T10:00:00Z"


def job(**status: object) -> dict:
    return {"metadata": {"name": "r-a-123456"}, "status": {"startTime": T, **status}}


def pod(name: str, created: str, **status: object) -> dict:
    return {"metadata": {"name": name, "creationTimestamp": created}, "status": status}


def terminated(exit_code: int, message: str) -> dict:
    return {
        "containerStatuses": [
            {"name": "node", "state": {"terminated": {"exitCode": exit_code, "message": message}}}
        ]
    }


def waiting(reason: str, message: str = "") -> dict:
    return {
        "phase": "Pending",
        "containerStatuses": [
            {"name": "node", "state": {"waiting": {"reason": reason, "message": message}}}
        ],
    }


def result(exit_code: int, message: str, **outputs: str) -> str:
    return RunnerResult(exit_code=exit_code, message=message, outputs=outputs).to_json()


def test_a_complete_job_reports_the_runner_outputs() -> None:
    done = job(
        succeeded=1,
        completionTime="2026-12-02T10:00:05Z",
        conditions=[{"type": "Complete", "status": "True"}],
    )
    pods = [pod("p1", T, **terminated(0, result(0, "ok", out="s3://b/runs/r/a/out")))]
    seen = observe_job(done, pods, retries=0)
    assert seen.phase == NodePhase.SUCCEEDED
    assert seen.outputs == {"out": "s3://b/runs/r/a/out"}
    assert seen.finished_at is not None and seen.finished_at.second == 5


def test_a_failed_job_reports_the_last_attempts_message() -> None:
    failed = job(
        failed=3,
        conditions=[
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": ""}
        ],
    )
    pods = [
        pod("p1", "2026-12-02T10:00:01Z", **terminated(1, result(1, "ValueError: first"))),
        pod("p3", "2026-12-02T10:00:09Z", **terminated(1, result(1, "ValueError: third"))),
        pod("p2", "2026-12-02T10:00:05Z", **terminated(1, result(1, "ValueError: second"))),
    ]
    seen = observe_job(failed, pods, retries=2)
    assert (seen.phase, seen.attempts, seen.message) == (NodePhase.FAILED, 3, "ValueError: third")


def test_a_job_that_died_before_the_runner_wrote_its_result_says_the_log_tail() -> None:
    failed = job(failed=1, conditions=[{"type": "Failed", "status": "True", "reason": "x"}])
    pods = [pod("p", T, **terminated(137, "line one\nKilled"))]
    assert observe_job(failed, pods, retries=0).message == "Killed"


def test_an_attempt_failed_while_the_job_retries_says_so() -> None:
    retrying = job(failed=1, active=1)
    pods = [
        pod("p1", "2026-12-02T10:00:01Z", **terminated(1, result(1, "TypeError: bad"))),
        pod("p2", "2026-12-02T10:00:05Z", phase="Running"),
    ]
    seen = observe_job(retrying, pods, retries=2)
    assert seen.phase == NodePhase.RUNNING
    assert seen.message == "attempt 1 of 3 failed: TypeError: bad; retrying"


def test_a_pod_that_cannot_start_is_named_with_its_reason() -> None:
    stuck = pod("p", T, **waiting("ImagePullBackOff", 'Back-off pulling image "x.invalid/a"'))
    seen = observe_job(job(active=1), [stuck], retries=0)
    assert seen.phase == NodePhase.RUNNING
    assert seen.message == 'waiting: ImagePullBackOff: Back-off pulling image "x.invalid/a"'
    trouble = pod_trouble(stuck)
    assert trouble is not None and trouble.fatal


def test_an_unschedulable_pod_counts_from_when_it_became_so() -> None:
    unscheduled = pod(
        "p",
        T,
        phase="Pending",
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/1 nodes are available: pod has unbound immediate"
                " PersistentVolumeClaims.",
                "lastTransitionTime": "2026-12-02T10:00:30Z",
            }
        ],
    )
    trouble = pod_trouble(unscheduled)
    assert trouble is not None and trouble.reason == "Unschedulable" and trouble.fatal
    assert trouble.since is not None and trouble.since.second == 30


def test_creating_a_container_is_not_trouble_by_itself_and_running_never_is() -> None:
    creating = pod_trouble(pod("p", T, **waiting("ContainerCreating")))
    assert creating is not None and not creating.fatal
    seen = observe_job(job(active=1), [pod("p", T, **waiting("ContainerCreating"))], retries=0)
    assert (seen.phase, seen.message) == (NodePhase.RUNNING, None)
    assert pod_trouble(pod("p", T, phase="Running")) is None


def test_a_job_is_restricted_owned_retried_and_mounts_what_the_node_needs() -> None:
    run = Run.model_validate(
        {
            "metadata": {"name": "r", "namespace": "ns", "uid": "u-1"},
            "spec": {"dataflow": "d", "retries": 2, "env": [{"name": "A", "value": "1"}]},
        }
    )
    function = {
        "handler": "main",
        "code": {"inline": "def main(x): return x"},
        "params": [{"name": "x", "type": "value"}],
        "outputs": ["out"],
        "env": [{"name": "A", "value": "0"}, {"name": "B", "value": "2"}],
    }
    snapshot = Snapshot.model_validate(
        {
            "dataflow": {"nodes": [{"name": "a", "function": "f", "inputs": ["x"]}]},
            "functions": {"f": function},
        }
    )
    task = Task(run="r", node="a", handler="main", code="def main(x): return x")
    for settings in (
        OperatorSettings(),
        OperatorSettings(
            store=StoreSettings(url="s3://bucket/hw", credentials_secret="store-creds")
        ),
    ):
        manifest = job_manifest(run, "a", "f", task, snapshot, settings, deadline_seconds=70)
        spec = manifest["spec"]
        pod_spec = spec["template"]["spec"]
        container = pod_spec["containers"][0]
        assert manifest["metadata"]["ownerReferences"][0]["uid"] == "u-1"
        assert spec["backoffLimit"] == 2 and spec["activeDeadlineSeconds"] == 70
        assert spec["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [2]
        assert pod_spec["automountServiceAccountToken"] is False
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        env = [(v["name"], v.get("value")) for v in container["env"]]
        # The Run's env comes last, so it wins over the Function's, as in a Pod.
        assert env[-3:] == [("A", "0"), ("B", "2"), ("A", "1")]
        volumes = {v["name"] for v in pod_spec["volumes"]}
        if settings.store.url:
            assert "store" not in volumes
            assert container["envFrom"] == [{"secretRef": {"name": "store-creds"}}]
        else:
            assert "store" in volumes and "envFrom" not in container
        assert "code" in volumes, "inline code is mounted from the snapshot"


def test_only_pod_and_job_changes_a_reconcile_reads_are_news() -> None:
    from headwater.controller.handlers import _telling

    running = pod(
        "p", T, phase="Running", containerStatuses=[{"name": "node", "state": {"running": {}}}]
    )
    ready = {
        **running,
        "status": {
            **running["status"],
            "podIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    assert _telling("pods", running) == _telling("pods", ready)
    done = pod("p", T, **terminated(0, result(0, "ok")))
    assert _telling("pods", running) != _telling("pods", done)
    stuck = pod("p", T, **waiting("ErrImagePull"))
    assert _telling("pods", stuck) != _telling("pods", pod("p", T, **waiting("ImagePullBackOff")))
    active = job(active=1)
    assert _telling("jobs", active) == _telling(
        "jobs", {**active, "status": {**active["status"], "ready": 1}}
    )
    assert _telling("jobs", active) != _telling("jobs", job(failed=1, active=1))

"""Logs and results where users look: each node attempt's log and record stay in the
artifact store after its Pod, its Job and its Run are gone, for the PVC store and for
the object store; a small final value shows in the Run's status."""

from __future__ import annotations

import posixpath
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from conftest import (
    REPO,
    claim_path,
    hw_dataflow,
    hw_function,
    hw_run,
    of_run,
    wait_for,
    wait_run,
)

from headwater import logs
from headwater.controller.settings import STORE_MOUNT_PATH
from headwater.runner.stopping import EXIT_STOPPED

if TYPE_CHECKING:
    from conftest import Cluster, ObjectStore, Operator

pytestmark = pytest.mark.e2e

NAPS = """
import time

def main(x):
    print("napping on", x, flush=True)
    time.sleep(300)
    return x
"""
FAILS = """
def main(x):
    print("trying on", x)
    raise RuntimeError(f"cannot handle {x}")
"""
TALKS = """
def main(x):
    print("worked out", x * 2)
    return x * 2
"""


def pvc_root(cluster: Cluster, namespace: str) -> str:
    """The namespace's PVC store, as the node agent keeps it on this machine."""
    return posixpath.dirname(claim_path(cluster, namespace, f"{STORE_MOUNT_PATH}/runs"))


def one_node_run(cluster: Cluster, namespace: str, run: str, code: str, **spec: Any) -> None:
    function = f"{run}-fn"
    cluster.apply(
        [
            hw_function(function, code, ["x"], ["out"]),
            hw_dataflow(f"{run}-flow", [{"name": "only", "function": function, "inputs": ["x"]}]),
            hw_run(run, f"{run}-flow", parameters={"x": {"value": 7}}, **spec),
        ],
        namespace,
    )


def stored_text(root: str, run: str, options: dict[str, Any] | None = None) -> str:
    return logs.read_log(root, run, "only", storage_options=options).data.decode()


def stop_when_napping(cluster: Cluster, namespace: str, root: str, options: Any = None) -> None:
    """Stop Run `stopped` once its node's log in the store shows the function running."""
    wait_for(
        lambda: "napping on 7" in stored_text(root, "stopped", options), 90, "the nap in the store"
    )
    cluster.kubectl(
        "patch", "run", "stopped", "-n", namespace, "--type=merge", "-p", '{"spec":{"stop":true}}'
    )
    wait_run(cluster, namespace, "stopped", "Cancelled")


def assert_stopped_attempt(root: str, options: Any = None) -> None:
    def recorded() -> logs.Attempt | None:
        found = logs.attempts(root, "stopped", "only", options)
        return found[0] if found and found[0].exit_code is not None else None

    attempt = wait_for(recorded, 60, "the stopped attempt's record")
    assert (attempt.number, attempt.exit_code) == (1, EXIT_STOPPED)
    assert attempt.message == "stopped (SIGTERM)"
    assert attempt.record is not None and attempt.record.result is not None
    assert "time.sleep(300)" in (attempt.record.result.traceback or "")
    text = stored_text(root, "stopped", options)
    assert "napping on 7" in text and "headwater: SIGTERM: stopping the function" in text
    assert text.endswith("headwater: exit 143: stopped (SIGTERM)\n"), text


def delete_jobs_and_pods(cluster: Cluster, namespace: str, *runs: str) -> None:
    for run in runs:
        selector = f"headwater.dev/run={run}"
        cluster.kubectl("delete", "jobs", "-n", namespace, "-l", selector, "--wait=true")
        cluster.kubectl("delete", "pods", "-n", namespace, "-l", selector, "--wait=true")
        wait_for(lambda run=run: not of_run(cluster, namespace, "pods", run), 60, "no Pods")


def assert_failed_attempts(root: str, options: Any = None) -> None:
    attempts = logs.attempts(root, "failed", "only", options)
    assert [a.number for a in attempts] == [1, 2], "retries: 1 is two attempts"
    for attempt in attempts:
        assert attempt.exit_code == 1
        assert attempt.message is not None
        assert attempt.message.startswith("RuntimeError: cannot handle 7")
        assert attempt.record is not None and attempt.record.result is not None
        assert "Traceback (most recent call last)" in (attempt.record.result.traceback or "")
        page = logs.read_log(root, "failed", "only", attempt.number, storage_options=options)
        text = page.data.decode()
        assert "trying on 7" in text and "RuntimeError: cannot handle 7" in text


def test_logs_of_stopped_failed_and_deleted_runs_stay_in_the_pvc_store(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    one_node_run(cluster, namespace, "stopped", NAPS)
    one_node_run(cluster, namespace, "failed", FAILS, retries=1)
    root = pvc_root(cluster, namespace)
    stop_when_napping(cluster, namespace, root)
    wait_run(cluster, namespace, "failed", "Failed")
    delete_jobs_and_pods(cluster, namespace, "stopped", "failed")
    cluster.kubectl("delete", "run", "stopped", "failed", "-n", namespace, "--wait=true")

    assert_stopped_attempt(root)
    assert_failed_attempts(root)


def test_logs_stay_in_the_object_store_after_stop_and_job_deletion(
    cluster: Cluster, namespace: str, operator: Operator, object_store: ObjectStore
) -> None:
    url = object_store.url("logs-e2e", uuid.uuid4().hex[:8])
    secret = object_store.create_secret(cluster, namespace)
    OperatorProcess = type(operator)
    own = OperatorProcess(
        cluster,
        operator.log_path,
        "--namespace",
        namespace,
        "--store-url",
        url,
        "--store-credentials-secret",
        secret,
    )
    options = {
        "key": object_store.access_key,
        "secret": object_store.secret_key,
        "endpoint_url": object_store.endpoint,
        "client_kwargs": {"region_name": object_store.region},
    }
    root = f"{url}/{namespace}"
    operator.stop()
    try:
        own.start()
        one_node_run(cluster, namespace, "stopped", NAPS)
        one_node_run(cluster, namespace, "failed", FAILS, retries=1)
        one_node_run(cluster, namespace, "done", TALKS)
        stop_when_napping(cluster, namespace, root, options)
        wait_run(cluster, namespace, "failed", "Failed")
        wait_run(cluster, namespace, "done", "Succeeded")
        delete_jobs_and_pods(cluster, namespace, "stopped", "failed", "done")

        assert_stopped_attempt(root, options)
        assert_failed_attempts(root, options)
        [done] = logs.attempts(root, "done", "only", options)
        assert (done.number, done.exit_code) == (1, 0)
        assert done.record is not None and done.record.result is not None
        assert done.record.result.values == {"out": 14}
        assert "worked out 14" in stored_text(root, "done", options)
    finally:
        own.stop()


def test_a_small_final_output_shows_in_the_runs_status(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    cluster.apply(REPO / "examples" / "tutorial", namespace)
    wait_run(cluster, namespace, "tutorial-example", "Succeeded")
    shown = cluster.kubectl("get", "run", "tutorial-example", "-n", namespace, "-o", "yaml")
    status = yaml.safe_load(shown.stdout)["status"]
    assert status["outputValues"] == {"result": 200}
    assert status["outputs"]["result"].endswith("/runs/tutorial-example/multiply/result")

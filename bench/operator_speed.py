"""How fast the operator moves, on the local control plane. Prints figures; asserts nothing.

- chain: the delay from a node's Job finishing (its Complete condition, as a watch sees
  it) to the next node's Job being created, along a chain (median, p95);
- fan-out: Jobs created per second when many nodes become ready at once;
- status size of a large Run, computed by the same engine the operator runs;
- operator CPU per reconcile as the DAG grows (from /proc and the reconcile histogram).

Usage: python bench/operator_speed.py [--chain 20] [--fanout 200] [--status-nodes 5000]
Needs the binaries of tests/cluster/build; starts and stops its own cluster.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from kubernetes import client, config, watch

from headwater.api import (
    DataflowNode,
    DataflowSpec,
    FunctionCode,
    FunctionSpec,
    NodePhase,
    ObjectMeta,
    Param,
    Run,
    RunSpec,
)
from headwater.engine import ObservedNode, step
from headwater.snapshot import Snapshot

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "tests" / "cluster"
NOOP = "def noop(x):\n    return x\n"
SOURCE = "def source():\n    return 0\n"


def functions() -> list[dict]:
    def function(name: str, code: str, params: list[str]) -> dict:
        return {
            "apiVersion": "headwater.dev/v1alpha1",
            "kind": "Function",
            "metadata": {"name": name},
            "spec": {
                "handler": name,
                "code": {"inline": code},
                "params": [{"name": p, "type": "value"} for p in params],
                "outputs": ["out"],
            },
        }

    return [function("source", SOURCE, []), function("noop", NOOP, ["x"])]


def chain_nodes(n: int) -> list[dict]:
    nodes = [{"name": "n0", "function": "source", "outputs": ["v0"]}]
    for i in range(1, n):
        nodes.append(
            {
                "name": f"n{i}",
                "function": "noop",
                "inputs": {"x": f"v{i - 1}"},
                "outputs": [f"v{i}"],
            }
        )
    return nodes


def fan_out_nodes(n: int) -> list[dict]:
    nodes = [{"name": "src", "function": "source", "outputs": ["v"]}]
    for i in range(n):
        nodes.append(
            {"name": f"n{i}", "function": "noop", "inputs": {"x": "v"}, "outputs": [f"o{i}"]}
        )
    return nodes


def flow_manifests(name: str, nodes: list[dict], parallelism: int | None) -> list[dict]:
    run_spec: dict = {"dataflow": name}
    if parallelism:
        run_spec["parallelism"] = parallelism
    return [
        *functions(),
        {
            "apiVersion": "headwater.dev/v1alpha1",
            "kind": "Dataflow",
            "metadata": {"name": name},
            "spec": {"nodes": nodes},
        },
        {
            "apiVersion": "headwater.dev/v1alpha1",
            "kind": "Run",
            "metadata": {"name": name},
            "spec": run_spec,
        },
    ]


class Cluster:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        subprocess.run(
            [str(CLUSTER / "up"), str(folder)], check=True, env=env, stdout=subprocess.DEVNULL
        )
        self.kubeconfig = str(folder / "kubeconfig")
        self.env = {**env, "KUBECONFIG": self.kubeconfig}

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            ["kubectl", *args],
            input=stdin,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def down(self) -> None:
        subprocess.run(
            [str(CLUSTER / "down"), str(self.folder)], check=False, stdout=subprocess.DEVNULL
        )


class Operator:
    def __init__(self, cluster: Cluster, metrics_port: int) -> None:
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        self.log = open(cluster.folder / "operator.log", "w")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "headwater",
                "operator",
                "--metrics-port",
                str(metrics_port),
                "--health-port",
                "0",
                "--listen-host",
                "127.0.0.1",
                "--qps",
                "200",
                "--burst",
                "400",
            ],
            env=cluster.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(self.metrics_url, timeout=2).read()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.2)

    def metric(self, name: str) -> float:
        text = urllib.request.urlopen(self.metrics_url, timeout=5).read().decode()
        return sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith(name + " ") or line.startswith(name + "{")
        )

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


class JobWatch:
    """Local arrival times of Job creations and completions in one namespace."""

    def __init__(self, namespace: str) -> None:
        self.created: dict[str, float] = {}
        self.completed: dict[str, float] = {}
        self.nodes: dict[str, str] = {}
        self.stopped = False
        self.watch = watch.Watch()
        self.thread = threading.Thread(target=self._loop, args=(namespace,), daemon=True)
        self.thread.start()

    def _loop(self, namespace: str) -> None:
        try:
            self._record(namespace)
        except Exception as error:  # the stream ends when stop() closes it
            if not self.stopped:
                print(f"job watch ended: {error}", file=sys.stderr)

    def _record(self, namespace: str) -> None:
        batch = client.BatchV1Api()
        for event in self.watch.stream(batch.list_namespaced_job, namespace, timeout_seconds=3600):
            job = event["object"]
            moment = time.monotonic()
            name = job.metadata.name
            self.created.setdefault(name, moment)
            self.nodes[name] = (job.metadata.labels or {}).get("headwater.dev/node", "")
            done = any(
                c.type == "Complete" and c.status == "True" for c in (job.status.conditions or [])
            )
            if done:
                self.completed.setdefault(name, moment)

    def stop(self) -> None:
        self.stopped = True
        self.watch.stop()


def wait_for_run(cluster: Cluster, namespace: str, name: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = json.loads(cluster.kubectl("get", "run", name, "-n", namespace, "-o", "json")).get(
            "status", {}
        )
        if status.get("phase") in ("Succeeded", "Failed", "Cancelled"):
            return status
        time.sleep(0.5)
    raise TimeoutError(f"run {namespace}/{name} did not finish in {timeout}s")


def run_flow(
    cluster: Cluster,
    operator: Operator,
    namespace: str,
    nodes: list[dict],
    parallelism: int | None,
    timeout: float,
) -> tuple[JobWatch, dict, float, float]:
    cluster.kubectl("create", "namespace", namespace)
    jobs = JobWatch(namespace)
    cpu_before, reconciles_before = (
        operator.cpu_seconds(),
        operator.metric("headwater_reconcile_duration_seconds_count"),
    )
    cluster.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=yaml.safe_dump_all(flow_manifests(namespace, nodes, parallelism)),
    )
    status = wait_for_run(cluster, namespace, namespace, timeout)
    cpu = operator.cpu_seconds() - cpu_before
    reconciles = operator.metric("headwater_reconcile_duration_seconds_count") - reconciles_before
    jobs.stop()
    return jobs, status, cpu, reconciles


def print_cpu(cpu: float, reconciles: float) -> None:
    each = 1000 * cpu / max(reconciles, 1)
    print(f"  operator CPU {cpu:.2f} s over {reconciles:.0f} reconciles = {each:.1f} ms each")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def chain_figures(cluster: Cluster, operator: Operator, length: int) -> None:
    jobs, status, cpu, reconciles = run_flow(
        cluster, operator, "bench-chain", chain_nodes(length), None, 600
    )
    by_node = {node: job for job, node in jobs.nodes.items()}
    delays = []
    for i in range(1, length):
        before, after = by_node.get(f"n{i - 1}"), by_node.get(f"n{i}")
        if before in jobs.completed and after in jobs.created:
            delays.append((jobs.created[after] - jobs.completed[before]) * 1000)
    print(f"chain of {length}: run {status['phase']} in {status.get('duration')}")
    median, p95 = statistics.median(delays), percentile(delays, 0.95)
    print(f"  Job complete -> next Job created: median {median:.0f} ms, p95 {p95:.0f} ms")
    print_cpu(cpu, reconciles)


def fan_out_figures(
    cluster: Cluster, operator: Operator, width: int, parallelism: int | None
) -> None:
    namespace = f"bench-fan-{width}"
    jobs, status, cpu, reconciles = run_flow(
        cluster, operator, namespace, fan_out_nodes(width), parallelism, 1800
    )
    created = sorted(t for name, t in jobs.created.items() if jobs.nodes.get(name) != "src")
    first_wave = created[: parallelism or width]
    rate = (
        (len(first_wave) - 1) / (first_wave[-1] - first_wave[0])
        if len(first_wave) > 1
        else float("nan")
    )
    limit = parallelism or "unlimited"
    print(
        f"fan-out of {width} (parallelism {limit}): {status['phase']} in {status.get('duration')}"
    )
    print(f"  Jobs created per second when {len(first_wave)} became ready at once: {rate:.1f}")
    print_cpu(cpu, reconciles)


def status_size(nodes: int, shape: str) -> None:
    """The status the operator would write for a finished Run of `nodes` nodes: the same
    engine call, with realistic times, outputs at their conventional place. A fan-out is
    the worst case: every node's output is a final output of the run."""
    wiring = fan_out_nodes(nodes - 1) if shape == "fan-out" else chain_nodes(nodes)
    flow = DataflowSpec(nodes=[DataflowNode(**n) for n in wiring])
    specs = {
        "source": FunctionSpec(handler="source", code=FunctionCode(inline=SOURCE), outputs=["out"]),
        "noop": FunctionSpec(
            handler="noop",
            code=FunctionCode(inline=NOOP),
            params=[Param(name="x", type="value")],
            outputs=["out"],
        ),
    }
    snapshot = Snapshot(dataflow=flow, functions=specs)
    run = Run(
        metadata=ObjectMeta(name="big-run-20261123", namespace="team-a", generation=1),
        spec=RunSpec(dataflow="big"),
    )
    start = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    store = "/var/lib/headwater/store"
    observed = {}
    for i, node in enumerate(flow.nodes):
        began = start + timedelta(seconds=i // 50)
        # As the runner reports them: by declared name, at the wired name's place.
        uri = f"{store}/runs/big-run-20261123/{node.id}/{node.outputs[0]}"
        observed[node.id] = ObservedNode(
            NodePhase.SUCCEEDED,
            started_at=began,
            finished_at=began + timedelta(seconds=3),
            outputs={"out": uri},
            job=f"big-run-20261123-{node.id}-abcdef",
        )
    decision = step(
        run.model_copy(update={"status": None}),
        snapshot,
        observed,
        start + timedelta(hours=1),
        store_root=store,
    )
    size = len(json.dumps(decision.status.to_wire()))
    share = 100 * size / (1.5 * 1024 * 1024)
    kib = size / 1024
    print(f"status of a finished {nodes}-node {shape} Run: {kib:.0f} KiB ({share:.0f}% of 1.5 MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chain", type=int, default=20)
    parser.add_argument("--fanout", type=int, default=200)
    parser.add_argument("--fanout-parallelism", type=int, default=50)
    parser.add_argument("--grow", default="10,50,100", help="fan-out widths for CPU per reconcile")
    parser.add_argument("--status-nodes", type=int, default=5000)
    parser.add_argument("--metrics-port", type=int, default=19090)
    args = parser.parse_args()
    status_size(args.status_nodes, "chain")
    status_size(args.status_nodes, "fan-out")
    with tempfile.TemporaryDirectory(prefix="hw-bench-") as scratch:
        cluster = Cluster(Path(scratch) / "cluster")
        try:
            config.load_kube_config(cluster.kubeconfig)
            cluster.kubectl("apply", "-f", str(ROOT / "crds"))
            cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
            operator = Operator(cluster, args.metrics_port)
            operator.wait_ready()
            try:
                chain_figures(cluster, operator, args.chain)
                fan_out_figures(cluster, operator, args.fanout, args.fanout_parallelism)
                for width in (int(w) for w in args.grow.split(",") if w):
                    fan_out_figures(cluster, operator, width, None)
            finally:
                operator.stop()
        finally:
            cluster.down()


if __name__ == "__main__":
    main()

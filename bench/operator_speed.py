"""How fast and how frugal the operator is, on the local control plane. Prints figures;
asserts nothing.

- chain: the delay from a node's Job finishing (its Complete condition, as a watch sees
  it) to the next node's Job being created, along a chain (median, p95);
- fan-out: Jobs created per second when many nodes become ready at once;
- per node, for every flow: API requests the operator made (counted from the request
  lines its HTTP client logs with --verbose, so any version of the operator can be
  measured the same way), reconciles, and operator CPU;
- the stored status of three 5,000-node Runs (all succeeded, all failed with long
  tracebacks, a chain whose first node failed), computed by the same engine and status
  budget the operator uses, with node names at Kubernetes' 63-character limit.

Usage: python bench/operator_speed.py [--chain 20] [--fanout 1000] [--status-nodes 5000]
(0 leaves a figure out)
Needs the binaries of tests/cluster/build; starts and stops its own cluster.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from kubernetes import client, config, watch

REQUEST_LABELS = re.compile(
    r'headwater_api_requests_total\{resource="(?P<resource>[^"]*)",verb="(?P<verb>[^"]*)"\}'
)
REQUEST_LINE = re.compile(r"kubernetes\.client\.rest: response body")
"""A response as the kubernetes client logs it at debug level (one a request): how an
operator older than the headwater_api_requests_total metric is measured. kopf's watches
(aiohttp) are not counted either way."""
STATUS_CASES = ("all succeeded", "all failed with long tracebacks", "chain, first node failed")
TRACEBACK = "Traceback (most recent call last):\n" + '  File "x.py", line 9, in f\n' * 100

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
                "--verbose",
                *own_namespace(),
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

    def scrape(self) -> list[str]:
        return urllib.request.urlopen(self.metrics_url, timeout=5).read().decode().splitlines()

    def metric(self, name: str) -> float:
        return sum(
            float(line.split()[-1])
            for line in self.scrape()
            if line.startswith(name + " ") or line.startswith(name + "{")
        )

    def requests_by_call(self) -> dict[str, float]:
        """The operator's request count per verb and resource ("update runs/status": 3.0)."""
        calls: dict[str, float] = {}
        for line in self.scrape():
            labels = REQUEST_LABELS.match(line)
            if labels:
                calls[f"{labels['verb']} {labels['resource']}"] = float(line.split()[-1])
        return calls

    def requests(self) -> int:
        """API requests so far: the operator's own count, else its debug log's."""
        counted = self.metric("headwater_api_requests_total")
        if counted:
            return int(counted)
        with open(self.log.name, errors="replace") as log:
            return sum(1 for line in log if REQUEST_LINE.search(line))

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


def own_namespace() -> list[str]:
    """Where the operator may publish (an older one has no such option)."""
    help_text = subprocess.run(
        [sys.executable, "-m", "headwater", "operator", "--help"], capture_output=True, text=True
    ).stdout
    return ["--operator-namespace", "default"] if "--operator-namespace" in help_text else []


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


@dataclass
class Cost:
    nodes: int
    cpu: float
    reconciles: float
    requests: int
    calls: dict[str, float]

    def show(self) -> None:
        each = 1000 * self.cpu / max(self.reconciles, 1)
        print(
            f"  per node: {self.requests / self.nodes:.1f} API requests,"
            f" {self.reconciles / self.nodes:.1f} reconciles,"
            f" {1000 * self.cpu / self.nodes:.1f} ms operator CPU"
            f" ({each:.1f} ms per reconcile)"
        )
        if self.calls:
            print(
                "  requests per node by call: "
                + ", ".join(
                    f"{call} {count / self.nodes:.2f}"
                    for call, count in sorted(self.calls.items(), key=lambda item: -item[1])
                )
            )


def run_flow(
    cluster: Cluster,
    operator: Operator,
    namespace: str,
    nodes: list[dict],
    parallelism: int | None,
    timeout: float,
) -> tuple[JobWatch, dict, Cost]:
    cluster.kubectl("create", "namespace", namespace)
    jobs = JobWatch(namespace)
    time.sleep(2)  # the namespace's own events settle first
    cpu_before, reconciles_before, requests_before, calls_before = (
        operator.cpu_seconds(),
        operator.metric("headwater_reconcile_duration_seconds_count"),
        operator.requests(),
        operator.requests_by_call(),
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
    time.sleep(3)  # what the last status write sets off
    cost = Cost(
        nodes=len(nodes),
        cpu=operator.cpu_seconds() - cpu_before,
        reconciles=operator.metric("headwater_reconcile_duration_seconds_count")
        - reconciles_before,
        requests=operator.requests() - requests_before,
        calls={
            call: count - calls_before.get(call, 0)
            for call, count in operator.requests_by_call().items()
            if count > calls_before.get(call, 0)
        },
    )
    jobs.stop()
    return jobs, status, cost


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def chain_figures(cluster: Cluster, operator: Operator, length: int) -> None:
    jobs, status, cost = run_flow(cluster, operator, "bench-chain", chain_nodes(length), None, 600)
    by_node = {node: job for job, node in jobs.nodes.items()}
    delays = []
    for i in range(1, length):
        before, after = by_node.get(f"n{i - 1}"), by_node.get(f"n{i}")
        if before in jobs.completed and after in jobs.created:
            delays.append((jobs.created[after] - jobs.completed[before]) * 1000)
    print(f"chain of {length}: run {status['phase']} in {status.get('duration')}")
    median, p95 = statistics.median(delays), percentile(delays, 0.95)
    print(f"  Job complete -> next Job created: median {median:.0f} ms, p95 {p95:.0f} ms")
    cost.show()


def fan_out_figures(
    cluster: Cluster, operator: Operator, width: int, parallelism: int | None
) -> None:
    namespace = f"bench-fan-{width}"
    jobs, status, cost = run_flow(
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
    cost.show()


def long_name(i: int) -> str:
    """A node name at the 63-character limit: the most bytes per node."""
    return f"node-{i:05d}-" + "x" * 52


def status_size(nodes: int, case: str) -> None:
    """The status the operator would store for a 5,000-node Run, before and after the
    status budget: the same engine call and `fit` the operator makes. (Imported here, so
    that the cluster figures can be taken with an older headwater too.)"""
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
    from headwater.graph import build_graph
    from headwater.snapshot import Snapshot
    from headwater.status_budget import fit, wire_size

    names = [long_name(i) for i in range(nodes)]
    if case == "chain, first node failed":
        wiring = [
            {"name": n, "function": "noop", "inputs": {"x": names[i - 1] if i else "x"}}
            | {"outputs": [n]}
            for i, n in enumerate(names)
        ]
    else:
        wiring = [
            {"name": n, "function": "noop", "inputs": {"x": "x"}, "outputs": [n]} for n in names
        ]
    flow = DataflowSpec(nodes=[DataflowNode(**n) for n in wiring])
    noop = FunctionSpec(
        handler="noop",
        code=FunctionCode(inline=NOOP),
        params=[Param(name="x", type="value")],
        outputs=["out"],
    )
    snapshot = Snapshot(dataflow=flow, functions={"noop": noop})
    run_name = "r" * 63
    run = Run(
        metadata=ObjectMeta(name=run_name, namespace="team-a", generation=1),
        spec=RunSpec(dataflow="big", parameters={"x": {"value": 1}}, retries=9),
    )
    start = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    store = "s3://" + "b" * 63 + "/headwater/team-a"
    observed = {}
    for i, name in enumerate(names):
        began = start + timedelta(seconds=i // 50)
        if case == "chain, first node failed" and i > 0:
            continue
        if case == "all succeeded":
            observed[name] = ObservedNode(
                NodePhase.SUCCEEDED,
                started_at=began,
                finished_at=began + timedelta(seconds=3),
                outputs={"out": f"{store}/runs/{run_name}/{name}/{name}"},
                job=f"{run_name[:50]}-{i}",
            )
        else:
            observed[name] = ObservedNode(
                NodePhase.FAILED,
                attempts=10,
                exit_code=1,
                message=TRACEBACK,
                started_at=began,
                finished_at=began + timedelta(seconds=3),
                job=f"{run_name[:50]}-{i}",
            )
    decision = step(run, snapshot, observed, start + timedelta(hours=1), store_root=store)
    whole = wire_size(decision.status.to_wire())
    graph = build_graph(snapshot.dataflow, snapshot.functions)
    stored = wire_size(fit(decision.status, graph.node_ids).to_wire())
    print(
        f"status of a {nodes}-node Run, {case}: {stored / 1024:.0f} KiB stored"
        f" (unbounded it would be {whole / 1024:.0f} KiB; etcd's limit is 1536 KiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chain", type=int, default=20)
    parser.add_argument("--fanout", type=int, default=1000)
    parser.add_argument("--fanout-parallelism", type=int, default=50)
    parser.add_argument("--grow", default="10,50,100", help="fan-out widths for CPU per reconcile")
    parser.add_argument("--status-nodes", type=int, default=5000)
    parser.add_argument("--metrics-port", type=int, default=19090)
    args = parser.parse_args()
    if args.status_nodes:
        for case in (
            "all succeeded",
            "all failed with long tracebacks",
            "chain, first node failed",
        ):
            status_size(args.status_nodes, case)
    with tempfile.TemporaryDirectory(prefix="hw-bench-") as scratch:
        cluster = Cluster(Path(scratch) / "cluster")
        try:
            config.load_kube_config(cluster.kubeconfig)
            cluster.kubectl("apply", "-f", str(ROOT / "crds"))
            cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
            operator = Operator(cluster, args.metrics_port)
            operator.wait_ready()
            try:
                if args.chain:
                    chain_figures(cluster, operator, args.chain)
                if args.fanout:
                    fan_out_figures(cluster, operator, args.fanout, args.fanout_parallelism)
                for width in (int(w) for w in args.grow.split(",") if w):
                    fan_out_figures(cluster, operator, width, None)
            finally:
                operator.stop()
        finally:
            cluster.down()


if __name__ == "__main__":
    main()

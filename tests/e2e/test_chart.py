"""The Helm chart, verified with the pinned helm binary on the real control plane:
lint, schema, server dry-run of every rendering, RBAC as Kubernetes evaluates it, and a
real install whose operator Pod runs the examples with the chart's ServiceAccount."""

from __future__ import annotations

import json
import re
import socket
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from headwater.controller.handlers import WATCH_PERMISSIONS
from headwater.controller.kube import PERMISSIONS, Permission

if TYPE_CHECKING:
    from conftest import Cluster

WaitFor = Callable[..., Any]

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "headwater"
CRDS = CHART / "crds"
EXAMPLES = ROOT / "examples"
KINDS = ("datasets", "functions", "dataflows", "runs")

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def render(cluster: Cluster, *args: str, namespace: str = "headwater-system") -> list[dict]:
    out = cluster.helm("template", "hw", str(CHART), "-n", namespace, *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def rules_of(documents: list[dict]) -> dict[str, list[dict]]:
    return {
        f"{d['kind']}/{d['metadata'].get('namespace', '')}/{d['metadata']['name']}": d["rules"]
        for d in documents
        if d["kind"] in ("Role", "ClusterRole")
    }


@pytest.fixture
def crds(cluster: Cluster) -> None:
    """The chart's CRDs, as a user upgrading them would apply them."""
    cluster.kubectl("apply", "-f", str(CRDS))
    for path in CRDS.glob("*.yaml"):
        name = yaml.safe_load(path.read_text())["metadata"]["name"]
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=30s")


# Lint and schema.


def test_lint_is_clean_with_default_values_and_every_ci_file(cluster: Cluster) -> None:
    values = [None, *sorted((CHART / "ci").glob("*.yaml"))]
    assert len(values) >= 3, "charts/headwater/ci/ should hold namespaced and object-store values"
    for path in values:
        extra = ["-f", str(path)] if path else []
        proc = cluster.helm("lint", "--strict", str(CHART), *extra)
        assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout, proc.stdout


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("replicaCount=-1", "/replicaCount"),
        ("artifactStore.url=ftp://bucket/prefix", "/artifactStore/url"),
        ("artifactStore.pvc.accessMode=ReadWriteSometimes", "/artifactStore/pvc/accessMode"),
        ("operator.qps=0", "/operator/qps"),
        ("operator.qpss=5", "qpss"),
    ],
)
def test_schema_refuses_bad_values_naming_them(cluster: Cluster, setting: str, named: str) -> None:
    for command in (["template", "hw"], ["lint"]):
        proc = cluster.helm(*command, str(CHART), "--set", setting, check=False)
        assert proc.returncode != 0, f"helm {command[0]} accepted {setting}"
        output = proc.stdout + proc.stderr
        assert "don't meet the specifications of the schema" in output, output
        assert named in output, output


# Rendering, RBAC and server dry-run.


def test_every_rendering_passes_server_dry_run(
    cluster: Cluster, crds: None, namespace: str, other_namespace: str
) -> None:
    renderings = {
        "cluster-wide": [],
        "namespaced": ["--set", f"watchNamespaces={{{namespace},{other_namespace}}}"],
        # No prometheus-operator here: its ServiceMonitor is checked by rendering only.
        "object-store": [
            "-f",
            str(CHART / "ci" / "object-store-values.yaml"),
            "--set",
            "metrics.serviceMonitor.enabled=false",
        ],
    }
    for what, args in renderings.items():
        out = cluster.helm("template", "hw", str(CHART), "-n", namespace, *args).stdout
        proc = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=out)
        assert "(server dry run)" in proc.stdout, what


def test_rbac_has_no_wildcards_and_namespaced_mode_has_no_cluster_wide_object_access(
    cluster: Cluster,
) -> None:
    cluster_wide = rules_of(render(cluster))
    namespaced = rules_of(render(cluster, "--set", "watchNamespaces={team-a,team-b}"))
    for rules in [*cluster_wide.values(), *namespaced.values()]:
        for rule in rules:
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule.get(key, []), rule
    lease = "Role/headwater-system/hw-headwater-own-namespace"
    reader = "Role/headwater-system/hw-headwater-store-reader"
    assert set(cluster_wide) == {
        "ClusterRole//hw-headwater-operator",
        "ClusterRole//headwater-view",
        "ClusterRole//headwater-edit",
        lease,
        reader,
    }
    # Namespaced mode grants the operator nothing cluster-scoped at all: kopf is told
    # the namespaces and the CRDs, so it neither lists namespaces nor watches CRDs.
    assert set(namespaced) == {
        "Role/team-a/hw-headwater-operator",
        "Role/team-b/hw-headwater-operator",
        "ClusterRole//headwater-view",
        "ClusterRole//headwater-edit",
        lease,
        reader,
    }
    assert {r for rule in cluster_wide[lease] for r in rule["resources"]} == {
        "leases",
        "configmaps",
    }
    assert cluster_wide[reader] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["headwater-store"],
            "verbs": ["get"],
        }
    ]


def test_service_monitor_only_when_enabled(cluster: Cluster) -> None:
    kinds = [d["kind"] for d in render(cluster)]
    assert "ServiceMonitor" not in kinds
    enabled = render(cluster, "--set", "metrics.serviceMonitor.enabled=true")
    monitor = next(d for d in enabled if d["kind"] == "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


def can_i(cluster: Cluster, user: str, verb: str, resource: str, namespace: str | None) -> bool:
    """`resource` may name a subresource: runs.headwater.dev/status."""
    scope = ["-n", namespace] if namespace else []
    resource, _, sub = resource.partition("/")
    if sub:
        scope.append(f"--subresource={sub}")
    proc = cluster.kubectl("auth", "can-i", verb, resource, f"--as={user}", *scope, check=False)
    return proc.stdout.strip() == "yes"


def as_resource(permission: Permission) -> str:
    """`runs/status` of headwater.dev as kubectl auth can-i names it."""
    resource, _, sub = permission.resource.partition("/")
    named = f"{resource}.{permission.group}" if permission.group else resource
    return f"{named}/{sub}" if sub else named


# Exactly what the operator's code declares, and nothing beyond it.
OPERATOR_NEEDS = sorted(
    (p.verb, as_resource(p)) for p in PERMISSIONS | WATCH_PERMISSIONS if p.scope == "namespaced"
)
OPERATOR_MUST_NOT = [
    ("update", "runs.headwater.dev"),
    ("patch", "runs.headwater.dev/status"),
    ("get", "datasets.headwater.dev"),
    ("patch", "functions.headwater.dev"),
    ("create", "runs.headwater.dev"),
    ("get", "secrets"),
    ("list", "secrets"),
    ("update", "configmaps"),
    ("delete", "configmaps"),
    ("get", "jobs.batch"),
    ("update", "jobs.batch"),
    ("get", "pods"),
    ("delete", "pods"),
    ("create", "pods"),
    ("get", "persistentvolumeclaims"),
    ("delete", "persistentvolumeclaims"),
    ("patch", "events"),
    ("create", "deployments.apps"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
    ("list", "customresourcedefinitions.apiextensions.k8s.io"),
    ("list", "namespaces"),
]


def test_cluster_wide_rbac_as_the_apiserver_evaluates_it(
    cluster: Cluster, crds: None, namespace: str, other_namespace: str, wait_for: WaitFor
) -> None:
    """Installed cluster-wide with the operator scaled to 0 (another test's operator may
    own this cluster's objects): the ServiceAccount can do exactly what the operator
    needs in any namespace, and people get headwater through view and edit."""
    release = f"rbac-{uuid.uuid4().hex[:5]}"
    cluster.helm("install", release, str(CHART), "-n", namespace, "--set", "replicaCount=0")
    try:
        sa = f"system:serviceaccount:{namespace}:{release}-headwater"
        for verb, resource in OPERATOR_NEEDS:
            assert can_i(cluster, sa, verb, resource, other_namespace), (verb, resource)
        for verb, resource in OPERATOR_MUST_NOT:
            assert not can_i(cluster, sa, verb, resource, other_namespace), (verb, resource)
        assert not can_i(
            cluster, sa, "watch", "customresourcedefinitions.apiextensions.k8s.io", None
        )
        assert can_i(cluster, sa, "update", "leases.coordination.k8s.io", namespace)
        assert not can_i(cluster, sa, "update", "leases.coordination.k8s.io", other_namespace)

        # People: Kubernetes' view and edit roles carry headwater through aggregation.
        for person, role in (("viewer", "view"), ("editor", "edit")):
            cluster.kubectl(
                "create", "rolebinding", person, f"--clusterrole={role}",
                f"--user={person}", "-n", other_namespace,
            )  # fmt: skip
        wait_for(
            lambda: can_i(cluster, "viewer", "list", "runs.headwater.dev", other_namespace),
            30,
            "headwater-view to be aggregated into view",
        )
        wait_for(
            lambda: can_i(cluster, "editor", "create", "runs.headwater.dev", other_namespace),
            30,
            "headwater-edit to be aggregated into edit",
        )
        assert not can_i(cluster, "viewer", "create", "runs.headwater.dev", other_namespace)
        assert not can_i(cluster, "viewer", "patch", "runs.headwater.dev/status", other_namespace)
        assert not can_i(cluster, "editor", "patch", "runs.headwater.dev/status", other_namespace)
        assert can_i(cluster, "editor", "delete", "dataflows.headwater.dev", other_namespace)
    finally:
        cluster.helm("uninstall", release, "-n", namespace, "--wait", check=False)


# A real install.


def operator_pods(cluster: Cluster, namespace: str) -> list[dict]:
    found = cluster.json("pods", "-n", namespace, "-l", "app.kubernetes.io/component=operator")
    return [p for p in found["items"] if not p["metadata"].get("deletionTimestamp")]


def running_operator(cluster: Cluster, namespace: str) -> dict | None:
    pods = operator_pods(cluster, namespace)
    if len(pods) == 1 and pods[0]["status"].get("phase") == "Running":
        return pods[0]
    return None


def run_phase(cluster: Cluster, namespace: str, name: str) -> str | None:
    run = cluster.json("run", name, "-n", namespace)
    phase = (run.get("status") or {}).get("phase")
    assert phase not in ("Failed", "Cancelled"), json.dumps(run.get("status"), indent=2)
    return phase


def resyncs(port: int) -> float:
    """How many times the operator has queued everything again, from its metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(r"^headwater_resyncs_total (\S+)$", text, re.M)
    assert match, "no resync metric"
    return float(match.group(1))


def no_permission_errors(cluster: Cluster, namespace: str, deployment: str) -> None:
    logs = cluster.kubectl("logs", f"deployment/{deployment}", "-n", namespace).stdout
    # 403 as a status, not the milliseconds of a timestamp (00:19:29,403).
    status_403 = re.compile(r"(?<![,.\d])403(?!\d)")
    denied = [line for line in logs.splitlines() if "Forbidden" in line or status_403.search(line)]
    assert not denied, "\n".join(denied[:5])


def test_install_run_examples_upgrade_uninstall(
    cluster: Cluster, crds: None, namespace: str, other_namespace: str, wait_for: WaitFor
) -> None:
    """The chart in its own namespace, watching only the example namespace."""
    release, examples = "headwater", other_namespace
    deployment = "headwater"  # the release name already holds the chart name
    metrics_port, health_port = free_port(), free_port()
    values = [
        "--set", f"watchNamespaces={{{examples}}}",
        "--set", f"operator.metricsPort={metrics_port}",
        "--set", f"operator.healthPort={health_port}",
        "--set", "operator.listenHost=127.0.0.1",
        "--set", "operator.resyncSeconds=2",
        "--set", "artifactStore.pvc.accessMode=ReadWriteOnce",
    ]  # fmt: skip
    proc = cluster.helm(
        "install", release, str(CHART), "-n", namespace, *values, "--wait", "--timeout", "2m"
    )
    assert "kubectl apply -n" in proc.stdout  # NOTES.txt says what to apply next
    installed = True
    try:
        pod = wait_for(lambda: running_operator(cluster, namespace), 60, "the operator Pod")
        container = pod["spec"]["containers"][0]
        assert container["command"] == ["headwater", "operator"]
        assert f"--namespace={examples}" in container["args"]
        assert pod["spec"]["serviceAccountName"] == deployment

        # The tutorial, and rionowcast with its data from ConfigMaps.
        apply_tutorial = cluster.kubectl("apply", "-n", examples, "-f", str(EXAMPLES / "tutorial"))
        assert "created" in apply_tutorial.stdout
        cluster.kubectl("apply", "-n", examples, "-f", str(EXAMPLES / "rionowcast"))
        wait_for(
            lambda: run_phase(cluster, examples, "tutorial-example") == "Succeeded",
            120,
            "the tutorial Run to succeed",
        )
        wait_for(
            lambda: run_phase(cluster, examples, "rionowcast-example") == "Succeeded",
            300,
            "the rionowcast Run to succeed",
        )
        tutorial = cluster.json("run", "tutorial-example", "-n", examples)
        assert tutorial["status"]["progress"] == "1/1"
        # Events are best effort in the operator (a 403 is swallowed): check they came.
        events = cluster.json(
            "events", "-n", examples, "--field-selector", "involvedObject.name=tutorial-example"
        )
        assert "RunSucceeded" in {e["reason"] for e in events["items"]}

        # GitOps: applying the same manifests again changes nothing, and a finished Run
        # is not rerun, even after the operator has looked at everything again.
        again = cluster.kubectl("apply", "-n", examples, "-f", str(EXAMPLES / "tutorial"))
        assert all(line.endswith("unchanged") for line in again.stdout.splitlines()), again.stdout
        before = resyncs(metrics_port)
        wait_for(lambda: resyncs(metrics_port) >= before + 2, 60, "two resyncs")
        jobs = cluster.json("jobs", "-n", examples, "-l", "headwater.dev/run=tutorial-example")
        assert len(jobs["items"]) == 1
        assert (
            cluster.json("run", "tutorial-example", "-n", examples)["status"]
            == (tutorial["status"])
        )

        # The operator writes status only: no spec was ever changed.
        for kind in KINDS:
            items = cluster.json(kind, "-n", examples)["items"]
            assert items, f"no {kind} in the examples"
            for item in items:
                assert item["metadata"]["generation"] == 1, (kind, item["metadata"]["name"])
        no_permission_errors(cluster, namespace, deployment)

        # Upgrade with a changed value: a new ReplicaSet, a new Pod, and it works.
        old_uid = pod["metadata"]["uid"]
        old_sets = {rs["metadata"]["name"] for rs in cluster.json("rs", "-n", namespace)["items"]}
        cluster.helm(
            "upgrade", release, str(CHART), "-n", namespace, "--reuse-values",
            "--set", "operator.qps=25", "--wait", "--timeout", "2m",
        )  # fmt: skip

        def replaced() -> dict | None:
            found = running_operator(cluster, namespace)
            return found if found and found["metadata"]["uid"] != old_uid else None

        new_pod = wait_for(replaced, 90, "the upgraded operator Pod")
        assert "--qps=25" in new_pod["spec"]["containers"][0]["args"]
        new_sets = {rs["metadata"]["name"] for rs in cluster.json("rs", "-n", namespace)["items"]}
        assert new_sets - old_sets, "the upgrade made no new ReplicaSet"
        second = yaml.safe_load_all((EXAMPLES / "tutorial" / "tutorial.yaml").read_text())
        rerun = next(d for d in second if d and d["kind"] == "Run")
        rerun["metadata"]["name"] = "tutorial-after-upgrade"
        cluster.apply(rerun, examples)
        wait_for(
            lambda: run_phase(cluster, examples, "tutorial-after-upgrade") == "Succeeded",
            120,
            "a Run after the upgrade",
        )
        no_permission_errors(cluster, namespace, deployment)

        # Uninstall: what the chart made goes; CRDs, Runs and their data stay.
        cluster.helm("uninstall", release, "-n", namespace, "--wait", "--timeout", "2m")
        installed = False
        wait_for(lambda: not operator_pods(cluster, namespace), 60, "the operator Pod to go")
        for kind, scope in (
            ("deployment", ["-n", namespace]),
            ("serviceaccount", ["-n", namespace]),
            ("service", ["-n", namespace]),
            ("role", ["-n", examples]),
            ("rolebinding", ["-n", examples]),
            ("clusterrole", []),
            ("clusterrolebinding", []),
        ):
            left = cluster.json(kind, *scope, "-l", f"app.kubernetes.io/instance={release}")
            assert left["items"] == [], (kind, [i["metadata"]["name"] for i in left["items"]])
        for path in CRDS.glob("*.yaml"):
            cluster.kubectl("get", "crd", yaml.safe_load(path.read_text())["metadata"]["name"])
        runs = {r["metadata"]["name"] for r in cluster.json("runs", "-n", examples)["items"]}
        assert {"tutorial-example", "rionowcast-example", "tutorial-after-upgrade"} <= runs
        cluster.kubectl("get", "pvc", "headwater-artifacts", "-n", examples)
    finally:
        if installed:
            cluster.helm("uninstall", release, "-n", namespace, check=False)

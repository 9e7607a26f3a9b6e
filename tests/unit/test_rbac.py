"""The chart grants the operator exactly the permissions its code declares: each API
call in controller/kube.py names the rule it needs, kopf's watches need list and watch,
and nothing else is granted."""

import re
from pathlib import Path

import yaml

from headwater.controller.handlers import WATCH_PERMISSIONS
from headwater.controller.kube import PERMISSIONS, Permission

TEMPLATES = Path(__file__).resolve().parents[2] / "charts" / "headwater" / "templates"


def granted(rules: list[dict], scope: str) -> set[Permission]:
    return {
        Permission(group, resource, verb, scope)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def namespaced_rules() -> list[dict]:
    text = (TEMPLATES / "_helpers.tpl").read_text()
    block = re.search(r'{{- define "headwater.namespacedRules" -}}\n(.*?){{- end }}', text, re.S)
    assert block is not None
    return yaml.safe_load(block.group(1))


def lease_rules() -> list[dict]:
    text = (TEMPLATES / "rbac.yaml").read_text()
    block = re.search(r"name: {{ \$fullname }}-own-namespace\n.*?rules:\n(.*?)---", text, re.S)
    assert block is not None
    return yaml.safe_load(block.group(1))


def test_the_namespaced_rules_are_exactly_what_the_code_calls() -> None:
    needed = {p for p in PERMISSIONS if p.scope == "namespaced"} | WATCH_PERMISSIONS
    assert granted(namespaced_rules(), "namespaced") == needed


def test_the_own_namespace_role_is_exactly_what_the_operator_calls_there() -> None:
    needed = {p for p in PERMISSIONS if p.scope == "operator"}
    assert granted(lease_rules(), "operator") == needed


def test_secrets_are_never_granted() -> None:
    assert all(p.resource != "secrets" for p in PERMISSIONS | WATCH_PERMISSIONS)
    for path in TEMPLATES.glob("rbac.yaml"):
        assert "secrets" not in path.read_text()

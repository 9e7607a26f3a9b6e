"""KUBECONFIG is read when a client is made, not when the Kubernetes library was
imported: a notebook that sets it after `import headwater` gets that cluster."""

from pathlib import Path

import kubernetes  # noqa: F401  (imported first, as in any session that used it)
import pytest
import yaml

from headwater.transfer.discovery import _api_client

KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
    "users": [{"name": "u", "user": {"token": "t"}}],
    "contexts": [
        {"name": "mine", "context": {"cluster": "c", "user": "u", "namespace": "team-x"}},
        {"name": "other", "context": {"cluster": "c", "user": "u", "namespace": "team-y"}},
    ],
    "current-context": "mine",
}


def test_a_kubeconfig_named_after_import_is_the_one_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(KUBECONFIG))
    monkeypatch.setenv("KUBECONFIG", str(path))
    api, namespace = _api_client(None)
    assert namespace == "team-x"
    assert api.configuration.host == "https://127.0.0.1:1"
    assert _api_client("other")[1] == "team-y"

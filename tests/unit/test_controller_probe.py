"""What the Dataset prober may look at, and what it reports: the allow decision for
every class of address a user could write, and probes of real files (no network)."""

import threading
from pathlib import Path

import pytest

from headwater.controller.probe import Prober, allowed, probe, timeouts

OWN_STORE = "s3://headwater/team-a"
EVERYTHING = ("*",)
"""The widest allow-list a platform could give: what is refused under it is refused
whatever the patterns say."""


@pytest.mark.parametrize(
    "uri",
    [
        "/etc/passwd",
        "etc/passwd",
        "file:///etc/passwd",
        "local:///etc/passwd",
        "memory://anything",
        "simplecache::file:///etc/passwd",
        "zip://inner.csv::file:///tmp/archive.zip",
        "blockcache::s3://headwater/team-a/x::file:///etc/passwd",
    ],
)
def test_local_and_chained_paths_are_never_probed(uri: str) -> None:
    assert not allowed(uri, EVERYTHING, OWN_STORE)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.8.9.10",
        "[::1]",
        "169.254.169.254",  # the cloud metadata service
        "[fe80::1]",
        "10.0.0.1",
        "10.255.255.255",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.1.1",
        "[fd00:ec2::254]",  # the metadata service over IPv6 (unique local)
        "0.0.0.0",
        "0",  # 0.0.0.0 as the resolver reads it
        "127.1",
        "2130706433",  # 127.0.0.1 as one decimal number
        "0x7f000001",
        "0177.0.0.1",  # octal
        "0xa9.0xfe.0xa9.0xfe",  # 169.254.169.254 in hex
        "2852039166",  # 169.254.169.254 as one number
        "167772161",  # 10.0.0.1
    ],
)
def test_loopback_link_local_and_private_addresses_are_never_probed(host: str) -> None:
    for scheme in ("http", "https", "s3"):
        uri = f"{scheme}://{host}:9000/bucket/data.csv"
        assert not allowed(uri, EVERYTHING, None), uri
        assert not allowed(uri, (f"{scheme}://{host}:9000/*",), None), uri


def test_a_public_address_is_probed_only_when_a_pattern_names_it() -> None:
    uri = "https://93.184.216.34/data.csv"
    assert not allowed(uri, (), None)
    assert allowed(uri, ("https://93.184.216.34/*",), None)
    assert allowed("https://data.example.com/a.csv", ("https://data.example.com/*",), None)


def test_by_default_only_the_namespaces_own_store_is_probed() -> None:
    assert allowed(f"{OWN_STORE}/datasets/radar.csv", (), OWN_STORE)
    assert allowed(f"{OWN_STORE}/datasets/radar.csv", (), OWN_STORE + "/")
    assert not allowed("s3://headwater/team-b/datasets/radar.csv", (), OWN_STORE)
    assert not allowed("s3://headwater/team-abc/radar.csv", (), OWN_STORE), "a longer namespace"
    assert not allowed(OWN_STORE, (), OWN_STORE), "the root itself is no dataset"
    assert not allowed("s3://other-bucket/radar.csv", (), OWN_STORE)
    assert not allowed("s3://other-bucket/radar.csv", (), None), "PVC store: nothing at all"


def test_allow_patterns_match_the_whole_uri_case_sensitively() -> None:
    patterns = ("s3://shared-data/*", "https://data.example.com/public/*.csv")
    assert allowed("s3://shared-data/radar/2026.parquet", patterns, OWN_STORE)
    assert allowed("https://data.example.com/public/a.csv", patterns, OWN_STORE)
    assert not allowed("https://data.example.com/public/a.parquet", patterns, OWN_STORE)
    assert not allowed("https://data.example.com.evil.net/public/a.csv", patterns, OWN_STORE)
    assert not allowed("s3://SHARED-DATA/radar.parquet", patterns, OWN_STORE)
    assert not allowed("s3://shared-data-2/radar.parquet", patterns, OWN_STORE)


def test_a_pattern_cannot_open_a_metadata_address_behind_a_user_name() -> None:
    uri = "http://data.example.com@169.254.169.254/latest/meta-data"
    assert not allowed(uri, ("http://data.example.com*",), None)


def test_a_file_is_probed_for_its_size_and_version_without_reading_it(tmp_path: Path) -> None:
    data = tmp_path / "radar.csv"
    data.write_bytes(b"a,b\n1,2\n")
    found = probe(str(data))
    assert (found.ok, found.reason, found.size) == (True, "Reachable", 8)
    assert found.version is not None
    data.write_bytes(b"a,b\n1,2\n3,4\n")
    assert probe(str(data)).size == 12


def test_a_missing_file_and_a_directory_are_not_found(tmp_path: Path) -> None:
    missing = probe(str(tmp_path / "nothing.csv"))
    assert (missing.ok, missing.reason) == (False, "NotFound")
    assert "nothing.csv" in missing.message
    directory = probe(str(tmp_path))
    assert (directory.ok, directory.reason) == (False, "NotFound")
    assert "is a directory" in directory.message


def test_an_unknown_protocol_is_unreachable_with_the_reason() -> None:
    found = probe("nosuchprotocol://bucket/data.csv")
    assert (found.ok, found.reason) == (False, "Unreachable")
    assert "nosuchprotocol" in found.message


def test_every_network_request_is_bounded_in_time() -> None:
    http = timeouts("https://data.example.com/a.csv")["client_kwargs"]["timeout"]
    assert http.total is not None and http.total <= 30
    s3 = timeouts("s3://bucket/a.csv")["config_kwargs"]
    assert s3["read_timeout"] <= 30 and s3["retries"] == {"max_attempts": 1}
    assert timeouts("/local/path") == {}


def test_a_namespace_has_one_probe_in_flight_and_others_are_not_held_up(tmp_path: Path) -> None:
    data = tmp_path / "a.csv"
    data.write_bytes(b"x")
    prober = Prober(workers=1)
    gate = threading.Event()
    try:
        prober._pool.submit(gate.wait)  # the one worker is busy: submitted probes wait
        first = prober.submit("team-a", str(data))
        assert first is not None
        assert prober.submit("team-a", str(data)) is None
        other = prober.submit("team-b", str(data))
        assert other is not None
        released = threading.Event()
        first.add_done_callback(lambda _: released.set())  # runs after the prober's own
        gate.set()
        assert first.result(timeout=30).ok and other.result(timeout=30).ok
        assert released.wait(timeout=30)
        again = prober.submit("team-a", str(data))
        assert again is not None and again.result(timeout=30).size == 1
    finally:
        gate.set()
        prober.close()

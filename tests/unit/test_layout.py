"""The artifact store's layout: one definition for every executor and client."""

from headwater.artifacts import layout
from headwater.artifacts.published import StoreInfo


def test_paths_work_for_urls_and_local_roots() -> None:
    for root in ("s3://bucket/prefix/team-a", "/var/lib/headwater/store"):
        assert layout.output_dir(root, "r", "n", "X") == f"{root}/runs/r/n/X"
        assert layout.attempt_log(root, "r", "n", 2) == f"{root}/runs/r/n/.headwater/attempt-2.log"
        assert layout.dataset_file(root, "radar", "/home/me/radar.parquet") == (
            f"{root}/datasets/radar/radar.parquet"
        )
    assert layout.dataset_uri("radar", "data/radar.parquet") == "datasets/radar/radar.parquet"


def test_attempt_numbers_are_read_back_from_file_names_only() -> None:
    assert layout.attempt_number("s3://b/runs/r/n/.headwater/attempt-12.log") == 12
    assert layout.attempt_number("attempt-3.json") == 3
    for other in ("attempt-0.log", "attempt-x.log", "attempt-3.txt", "data.json", "attempt-.log"):
        assert layout.attempt_number(other) is None, other


def test_the_published_store_info_round_trips_through_configmap_data() -> None:
    info = StoreInfo(
        kind="object",
        url="s3://headwater/store/",
        credentials_secret="headwater-s3",
        mount_path="/var/lib/headwater/store",
        runner_image="ghcr.io/headwater-dev/headwater:0.1.0",
    )
    data = info.to_data()
    assert data["credentialsSecret"] == "headwater-s3" and "claim" not in data
    assert StoreInfo.from_data(data) == info
    assert info.root("team-a") == "s3://headwater/store/team-a"
    claim = StoreInfo(kind="pvc", claim="c", mount_path="/m", runner_image="i")
    assert claim.root("team-a") == "/m"

"""Names of what the operator creates: deterministic, within Kubernetes' bounds, and
distinct for distinct (run, node) pairs however long or oddly split the names are."""

import re

from headwater.api import ObjectMeta, Run, RunSpec
from headwater.controller.naming import (
    DATAFLOW_LABEL,
    MAX_NAME,
    NODE_LABEL,
    RUN_LABEL,
    bounded,
    job_name,
    label_value,
    labels,
    snapshot_name,
)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LONGEST_RUN = "r" * 63
"""A Run's name is at most 63 characters; a node's is a DNS label, also 63."""


def test_a_job_name_is_the_same_every_time_it_is_computed() -> None:
    assert job_name("daily-2026-06-12", "prep") == job_name("daily-2026-06-12", "prep")
    assert job_name("daily-2026-06-12", "prep").startswith("daily-2026-06-12-prep-")


def test_the_longest_run_and_node_names_still_make_a_valid_63_character_job_name() -> None:
    name = job_name(LONGEST_RUN, "n" * 63)
    assert len(name) <= MAX_NAME
    assert DNS_LABEL.match(name)


def test_ten_thousand_longest_node_names_all_make_valid_job_names() -> None:
    names = [job_name(LONGEST_RUN, f"{'n' * 57}-{i:05d}") for i in range(10_000)]
    assert all(len(name) <= MAX_NAME and DNS_LABEL.match(name) for name in names)


def test_node_names_that_differ_within_the_kept_head_never_collide() -> None:
    run = "daily-forecast-2026-06-12-baseline"
    names = {job_name(run, f"shard-{i:05d}") for i in range(10_000)}
    assert len(names) == 10_000


def test_the_same_joined_text_split_differently_gives_different_names() -> None:
    assert job_name("a-b", "c") != job_name("a", "b-c")
    assert bounded("a-b", "c") != bounded("a", "b-c")


def test_a_cut_that_lands_on_a_dash_or_dot_leaves_a_valid_name() -> None:
    for cut in range(1, 63):
        for mark in ".-":
            run = ("a" * cut + mark + "b" * 63)[:63]
            name = job_name(run, "node")
            assert len(name) <= MAX_NAME
            assert DNS_SUBDOMAIN.match(name), name


def test_a_snapshot_name_fits_a_configmap_name_and_differs_from_any_job_name() -> None:
    name = snapshot_name(LONGEST_RUN)
    assert len(name) <= 253 and DNS_SUBDOMAIN.match(name)
    assert name != job_name(LONGEST_RUN, "snapshot")  # a node may well be called that


def test_a_253_character_dataflow_name_becomes_a_valid_label_value() -> None:
    long = "d" * 200 + "." + "e" * 52
    value = label_value(long)
    assert len(value) <= 63 and LABEL_VALUE.match(value)
    assert label_value("short.name") == "short.name"
    assert label_value(long) != label_value("d" * 200 + "." + "f" * 52)


def test_labels_name_the_run_its_dataflow_and_the_node() -> None:
    run = Run(metadata=ObjectMeta(name="r1"), spec=RunSpec(dataflow="x" * 253))
    found = labels(run, "prep")
    assert found[RUN_LABEL] == "r1" and found[NODE_LABEL] == "prep"
    assert all(len(v) <= 63 and LABEL_VALUE.match(v) for v in found.values())
    assert found[DATAFLOW_LABEL] == label_value("x" * 253)
    assert NODE_LABEL not in labels(run)

"""The operator's work queue, workers and object cache: pure threading and data, no API."""

import threading
import time

from headwater.controller.cache import ObjectCache, slim
from headwater.controller.workqueue import Workers, WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run_key(namespace: str, name: str) -> tuple[str, str, str]:
    return ("runs", namespace, name)


def test_a_key_added_many_times_is_handed_out_once() -> None:
    queue = WorkQueue()
    for _ in range(100):
        queue.add(run_key("a", "r"))
    assert queue.get(timeout=0) == run_key("a", "r")
    assert queue.get(timeout=0) is None


def test_a_key_added_while_processing_comes_back_after_done_not_before() -> None:
    queue = WorkQueue()
    queue.add(run_key("a", "r"))
    key = queue.get(timeout=0)
    queue.add(run_key("a", "r"))
    assert queue.get(timeout=0) is None, "never to two workers at once"
    queue.done(key)
    assert queue.get(timeout=0) == run_key("a", "r")


def test_namespaces_take_turns() -> None:
    queue = WorkQueue()
    for i in range(1000):
        queue.add(run_key("noisy", f"r{i}"))
    queue.add(run_key("quiet", "mine"))
    handed = [queue.get(timeout=0) for _ in range(3)]
    assert run_key("quiet", "mine") in handed[:2]


def test_the_soonest_delay_wins_and_later_ones_do_not_hide_it() -> None:
    clock = Clock()
    queue = WorkQueue(clock)
    queue.add_after(run_key("a", "r"), 60)
    queue.add_after(run_key("a", "r"), 5)
    queue.add_after(run_key("a", "r"), 30)
    clock.now += 4
    assert queue.get(timeout=0) is None
    clock.now += 2
    assert queue.get(timeout=0) == run_key("a", "r")
    queue.done(run_key("a", "r"))
    clock.now += 100
    assert queue.get(timeout=0) is None, "the later delays were replaced by the sooner one"


def test_thousands_of_delays_need_no_thread_each() -> None:
    clock = Clock()
    queue = WorkQueue(clock)
    before = threading.active_count()
    for i in range(5000):
        queue.add_after(run_key("a", f"r{i}"), 10 + i % 7)
    assert threading.active_count() == before
    clock.now += 20
    assert len({queue.get(timeout=0) for _ in range(5000)}) == 5000


def test_retries_back_off_and_a_success_resets_them() -> None:
    clock = Clock()
    queue = WorkQueue(clock)
    key = run_key("a", "r")
    queue.retry(key)
    queue.retry(key)  # the second failure waits longer, but the first delay still holds
    clock.now += 0.6
    assert queue.get(timeout=0) == key
    queue.done(key)
    queue.retry(key)  # third failure: 2 s
    clock.now += 1.0
    assert queue.get(timeout=0) is None
    clock.now += 1.1
    assert queue.get(timeout=0) == key
    queue.succeeded(key)
    queue.done(key)
    queue.retry(key)
    clock.now += 0.6
    assert queue.get(timeout=0) == key


def test_workers_survive_a_raising_handler_and_retry_it() -> None:
    queue = WorkQueue()
    calls: list[tuple[str, str, str]] = []
    done = threading.Event()

    def handle(key: tuple[str, str, str]) -> None:
        calls.append(key)
        if len(calls) == 1:
            raise RuntimeError("the API server said no")
        done.set()

    workers = Workers(queue, handle, count=2)
    workers.start()
    queue.add(run_key("a", "r"))
    assert done.wait(10)
    workers.stop(timeout=5)
    assert calls == [run_key("a", "r"), run_key("a", "r")]
    assert not any(t.is_alive() for t in workers.threads)


def test_a_handler_that_deletes_its_own_object_does_not_block_the_others() -> None:
    """The TTL deadlock: a reconcile that deletes its Run and forgets it must not wait
    on itself; every other key still gets handled."""
    queue = WorkQueue()
    handled: set[tuple[str, str, str]] = set()
    all_done = threading.Event()

    def handle(key: tuple[str, str, str]) -> None:
        if key[2].startswith("expired"):
            queue.forget(key)  # what deleting a Run does
        handled.add(key)
        if len(handled) == 21:
            all_done.set()

    workers = Workers(queue, handle, count=2)
    workers.start()
    for i in range(20):
        queue.add(run_key("a", f"expired-{i}"))
    queue.add(run_key("b", "new"))
    assert all_done.wait(10)
    workers.stop(timeout=5)
    assert workers.longest_busy() == 0.0


def body(name: str, version: str, run: str | None = None, uid: str = "u1") -> dict:
    labels = {"headwater.dev/run": run} if run else {}
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": uid,
            "resourceVersion": version,
            "labels": labels,
            "managedFields": [{"manager": "x"}],
        },
        "spec": {"template": {"spec": {"containers": []}}, "backoffLimit": 0},
        "status": {},
    }


def test_the_cache_never_goes_back_to_an_older_version() -> None:
    cache = ObjectCache()
    assert cache.put("runs", body("r", "20"))
    assert not cache.put("runs", body("r", "19"))
    assert cache.get("runs", "ns", "r")["metadata"]["resourceVersion"] == "20"
    # A new object with the same name (another uid) replaces the old at once.
    assert cache.put("runs", body("r", "5", uid="u2"))


def test_jobs_and_pods_are_found_by_run_and_leave_the_index_when_deleted() -> None:
    cache = ObjectCache()
    cache.put("jobs", body("j1", "1", run="r"))
    cache.put("jobs", body("j2", "1", run="r"))
    cache.put("jobs", body("other", "1", run="s"))
    assert [j["metadata"]["name"] for j in cache.of_run("jobs", "ns", "r")] == ["j1", "j2"]
    cache.remove("jobs", "ns", "j1")
    assert [j["metadata"]["name"] for j in cache.of_run("jobs", "ns", "r")] == ["j2"]
    # A relabelled object moves between runs.
    cache.put("jobs", body("j2", "2", run="s"))
    assert cache.of_run("jobs", "ns", "r") == []


def test_cached_jobs_and_pods_leave_out_what_is_never_read() -> None:
    job = slim("jobs", body("j", "1", run="r"))
    assert "template" not in job["spec"] and job["spec"]["backoffLimit"] == 0
    assert "managedFields" not in job["metadata"]
    assert "spec" not in slim("pods", body("p", "1", run="r"))


def test_workers_report_how_long_a_reconcile_has_been_stuck() -> None:
    queue = WorkQueue()
    release = threading.Event()
    workers = Workers(queue, lambda key: release.wait(10), count=1)
    workers.start()
    queue.add(run_key("a", "stuck"))
    time.sleep(0.3)
    assert workers.longest_busy() >= 0.2
    release.set()
    workers.stop(timeout=5)


def test_a_fresh_list_drops_what_it_no_longer_shows_but_keeps_what_came_after() -> None:
    cache = ObjectCache()
    cache.put("jobs", body("deleted-unseen", "10", run="r"))
    cache.put("jobs", body("newer-than-list", "30", run="r"))
    cache.put("jobs", body("changed-after-list", "25", run="r"))
    cache.put("jobs", body("elsewhere", "5", run="r") | {})
    cache.replace(
        "jobs", [body("changed-after-list", "15", run="r")], listed_at="20", namespace="ns"
    )
    names = [j["metadata"]["name"] for j in cache.of_run("jobs", "ns", "r")]
    assert names == ["changed-after-list", "newer-than-list"]
    assert cache.get("jobs", "ns", "changed-after-list")["metadata"]["resourceVersion"] == "25"

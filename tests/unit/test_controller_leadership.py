"""Leader election decisions with the clock injected: when a replica may take the Lease,
when the leader must give it up, and that the second always comes before the first."""

import dataclasses
import re

from headwater.controller.leadership import LeaseElector, Sightings, _micro_time, identity, overdue

DEFAULTS = {f.name: f.default for f in dataclasses.fields(LeaseElector)}
LEASE = DEFAULTS["lease_seconds"]
DEADLINE = DEFAULTS["renew_deadline_seconds"]
RETRY = DEFAULTS["retry_seconds"]
ME, OTHER = "operator-b-1-aaaaaa", "operator-a-1-bbbbbb"


def test_the_timings_are_those_documented() -> None:
    assert (LEASE, DEADLINE, RETRY) == (8.0, 5.0, 1.0)


def test_a_lease_held_by_another_is_taken_only_after_a_whole_lease_without_change() -> None:
    seen = Sightings(LEASE)
    assert not seen.may_take(OTHER, "t1", ME, moment=1000.0)
    assert not seen.may_take(OTHER, "t1", ME, moment=1000.0 + LEASE - 0.01)
    assert seen.may_take(OTHER, "t1", ME, moment=1000.0 + LEASE)


def test_a_renewal_seen_starts_the_wait_again() -> None:
    seen = Sightings(LEASE)
    seen.may_take(OTHER, "t1", ME, moment=0.0)
    assert not seen.may_take(OTHER, "t2", ME, moment=7.0)  # the holder renewed
    assert not seen.may_take(OTHER, "t2", ME, moment=14.9)
    assert seen.may_take(OTHER, "t2", ME, moment=15.0)


def test_another_holder_taking_over_starts_the_wait_again() -> None:
    seen = Sightings(LEASE)
    seen.may_take(OTHER, "t1", ME, moment=0.0)
    assert not seen.may_take("operator-c-1-cccccc", "t1", ME, moment=7.0)
    assert not seen.may_take("operator-c-1-cccccc", "t1", ME, moment=14.0)


def test_the_holders_own_renew_time_is_never_compared_with_this_clock() -> None:
    # A renewTime from years ago (or another machine's skewed clock) does not make the
    # Lease look expired: only how long this process has seen it unchanged counts.
    seen = Sightings(LEASE)
    assert not seen.may_take(OTHER, "2001-01-01T00:00:00.000000Z", ME, moment=50_000.0)
    assert not seen.may_take(OTHER, "2001-01-01T00:00:00.000000Z", ME, moment=50_007.0)


def test_a_released_or_unheld_lease_is_taken_at_once() -> None:
    assert Sightings(LEASE).may_take("", "t1", ME, moment=0.0)


def test_the_holder_always_renews_its_own_lease() -> None:
    seen = Sightings(LEASE)
    assert seen.may_take(ME, "t1", ME, moment=0.0)
    assert seen.may_take(ME, "t1", ME, moment=1_000.0)


def test_the_leader_keeps_trying_until_the_renew_deadline_then_gives_up() -> None:
    assert not overdue(
        renewed_at=100.0, moment=100.0 + DEADLINE - 0.01, renew_deadline_seconds=DEADLINE
    )
    assert overdue(renewed_at=100.0, moment=100.0 + DEADLINE, renew_deadline_seconds=DEADLINE)


def test_a_leader_that_cannot_renew_stops_before_any_standby_may_take_over() -> None:
    """The leader last renewed at 0 and from then on every attempt fails; a standby reads
    the Lease every retry, at any phase relative to the leader. The leader's last tick
    leading must come before the standby's first tick leading."""
    for leader_phase in (0.0, 0.25, 0.5, 0.99):
        for standby_phase in (0.0, 0.01, 0.5, 0.99):
            leader_ticks = (leader_phase + RETRY * k for k in range(1, 100))
            gave_up = next(t for t in leader_ticks if overdue(0.0, t, DEADLINE))
            seen = Sightings(LEASE)
            standby_ticks = (standby_phase + RETRY * k for k in range(100))
            took = next(t for t in standby_ticks if seen.may_take(OTHER, "t0", ME, t))
            assert gave_up < took, (leader_phase, standby_phase, gave_up, took)
            assert took - gave_up >= LEASE - DEADLINE - RETRY


def test_identities_differ_per_process_start() -> None:
    assert len({identity() for _ in range(100)}) == 100


def test_lease_times_are_micro_times() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", _micro_time())

from datetime import UTC, datetime, timedelta

from headwater.api import ConditionStatus, find_condition, is_true, set_condition

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_transition_time_moves_only_when_status_flips() -> None:
    conditions = set_condition([], "Ready", False, "Missing", "no data", at=T0)
    same = set_condition(conditions, "Ready", False, "StillMissing", "still no data", at=T1)
    ready = find_condition(same, "Ready")
    assert ready is not None
    assert ready.last_transition_time == T0
    assert (ready.reason, ready.message) == ("StillMissing", "still no data")
    flipped = find_condition(set_condition(same, "Ready", True, "Found", at=T1), "Ready")
    assert flipped is not None and flipped.last_transition_time == T1


def test_other_conditions_keep_their_place() -> None:
    conditions = set_condition([], "Running", True, "Started", at=T0)
    conditions = set_condition(conditions, "Succeeded", ConditionStatus.UNKNOWN, "Running", at=T0)
    conditions = set_condition(conditions, "Running", False, "Finished", at=T1)
    assert [c.type for c in conditions] == ["Running", "Succeeded"]
    assert not is_true(conditions, "Running")
    assert not is_true(conditions, "Missing")


def test_wire_form_follows_kubernetes() -> None:
    condition = set_condition([], "Ready", True, "Ok", observed_generation=3, at=T0)[0]
    assert condition.to_wire() == {
        "type": "Ready",
        "status": "True",
        "reason": "Ok",
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "observedGeneration": 3,
    }

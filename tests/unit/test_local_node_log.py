"""A local node.log holds every attempt; the retry marks split it back into attempts."""

from pathlib import Path

from headwater.local.node_log import mark_attempt, read_attempt, split_attempts, whole_lines


def test_attempts_are_told_apart_by_the_marks(tmp_path: Path) -> None:
    log = tmp_path / "node.log"
    log.write_bytes(b"first try\nTraceback ...\n")
    mark_attempt(log, 2, 3)
    with log.open("ab") as out:
        out.write(b"second try\n")
    mark_attempt(log, 3, 3)

    assert [(s.attempt, s.data) for s in split_attempts(log.read_bytes())] == [
        (1, b"first try\nTraceback ...\n"),
        (2, b"second try\n"),
        (3, b""),
    ]
    latest = read_attempt(log, None)
    assert latest is not None and (latest.attempt, latest.data) == (3, b"")
    second = read_attempt(log, 2)
    assert second is not None and second.data == b"second try\n"
    assert read_attempt(log, 4) is None
    assert read_attempt(tmp_path / "absent.log", None) is None


def test_a_line_that_only_looks_like_a_mark_mid_line_is_output() -> None:
    data = b"said: headwater: attempt 2 of 3 starts\n"
    assert [(s.attempt, s.data) for s in split_attempts(data)] == [(1, data)]


def test_a_follower_continues_in_the_attempt_it_last_saw() -> None:
    data = b"more of two\nheadwater: attempt 3 of 3 starts\nthree\n"
    assert [(s.attempt, s.data) for s in split_attempts(data, first=2)] == [
        (2, b"more of two\n"),
        (3, b"three\n"),
    ]


def test_a_follower_leaves_a_half_written_line() -> None:
    assert whole_lines(b"done\nheadwater: attempt 2 of") == b"done\n"
    assert whole_lines(b"no newline yet") == b""

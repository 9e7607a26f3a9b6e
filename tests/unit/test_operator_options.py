from click.testing import CliRunner

from headwater.cli import _quantities, main


def test_default_requests_parse_as_quantities() -> None:
    assert _quantities("cpu=250m, memory=1Gi") == {"cpu": "250m", "memory": "1Gi"}


def test_bad_default_requests_stop_the_operator_before_it_starts() -> None:
    result = CliRunner().invoke(main, ["operator", "--default-requests", "cpu"])
    assert result.exit_code == 2
    assert "expected name=quantity" in result.output

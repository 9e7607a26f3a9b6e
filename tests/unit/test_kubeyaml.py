"""Manifests are read as kubectl reads them (go-yaml v2, YAML 1.1), and every scalar
kubectl would not send as written is named, with what to quote."""

import math
from pathlib import Path

import pytest
import yaml

from headwater.kubeyaml import dump_all, read_documents, resolve_plain
from headwater.manifests import ManifestError, load_manifests

# go-yaml v2's resolve table (sigs.k8s.io/yaml/goyaml.v2/resolve.go): these spellings
# and no other case variants.
TRUE_WORDS = ["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"]
FALSE_WORDS = ["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"]
NOT_BOOLEANS = ["yEs", "oN", "nO", "OfF", "tRUE", "yes-please", "X", "ny"]

FUNCTION = """
apiVersion: headwater.dev/v1alpha1
kind: Function
metadata: {{name: split}}
spec:
  handler: split
  code: {{inline: "def split(df):\\n    return df, df\\n"}}
  params: [{{name: df}}]
  outputs: [X, {word}]
"""


def manifest(kind: str, name: str, spec: str) -> str:
    """One of our documents; `spec` is its indented body."""
    return f"apiVersion: headwater.dev/v1alpha1\nkind: {kind}\nmetadata: {{name: {name}}}\n{spec}"


def read_as(text: str, became: str) -> str:
    """What the loader says of a bare `text` that kubectl reads as `became`."""
    return f'{text} is read as {became} by kubectl (YAML 1.1); quote it: "{text}"'


def load_text(tmp_path: Path, text: str) -> list[str]:
    """The problems load_manifests reports, as printed; [] when it loads."""
    (tmp_path / "m.yaml").write_text(text)
    try:
        load_manifests([tmp_path / "m.yaml"])
    except ManifestError as error:
        return [str(p) for p in error.problems]
    return []


@pytest.mark.parametrize("word", TRUE_WORDS + FALSE_WORDS)
def test_a_yaml_11_boolean_where_a_name_belongs_says_what_to_quote(
    tmp_path: Path, word: str
) -> None:
    problems = load_text(tmp_path, FUNCTION.format(word=word))
    value = "true" if word in TRUE_WORDS else "false"
    assert problems == [
        f"{tmp_path / 'm.yaml'} (document 1): Function/split at spec.outputs[1]: "
        + read_as(word, f"the boolean {value}")
    ]


@pytest.mark.parametrize("word", NOT_BOOLEANS)
def test_other_spellings_are_names(tmp_path: Path, word: str) -> None:
    assert load_text(tmp_path, FUNCTION.format(word=word)) == []


@pytest.mark.parametrize("word", TRUE_WORDS + FALSE_WORDS)
def test_quoted_words_are_names(tmp_path: Path, word: str) -> None:
    assert load_text(tmp_path, FUNCTION.format(word=f'"{word}"')) == []


def test_a_parameter_named_n_and_a_number_for_a_name(tmp_path: Path) -> None:
    text = FUNCTION.format(word="Z").replace("[{name: df}]", "[{name: n}, {name: 0x1F}]")
    problems = load_text(tmp_path, text)
    assert [p.split(": Function/split at ")[1] for p in problems] == [
        "spec.params[0].name: " + read_as("n", "the boolean false"),
        "spec.params[1].name: " + read_as("0x1F", "the number 31"),
    ]


def test_a_boolean_in_the_list_form_of_inputs_is_one_problem(tmp_path: Path) -> None:
    text = manifest("Dataflow", "d", "spec:\n  nodes: [{function: fit, inputs: [X, y]}]\n")
    problems = load_text(tmp_path, text)
    # Not also "should be an object" for the map form pydantic tried next.
    assert len(problems) == 1, problems
    assert "at spec.nodes[0].inputs[1]: y is read as the boolean true" in problems[0]


def test_a_key_kubectl_renames_is_named_as_written(tmp_path: Path) -> None:
    parameters = '    n: {value: 3}\n    "y": {value: 4}\n    off: {value: 5}\n'
    text = manifest("Run", "r", f"spec:\n  dataflow: d\n  parameters:\n{parameters}")
    problems = load_text(tmp_path, text)
    assert [p.split("Run/r at ")[1] for p in problems] == [
        "spec.parameters.n: the key " + read_as("n", "the boolean false"),
        "spec.parameters.off: the key " + read_as("off", "the boolean false"),
    ]


def test_strings_are_not_numbers_or_booleans_to_the_api_server(tmp_path: Path) -> None:
    text = manifest("Run", "r", 'spec: {dataflow: d, retries: "3", stop: "yes"}\n')
    problems = load_text(tmp_path, text)
    paths = sorted(p.split(" at ")[1].split(":")[0] for p in problems)
    assert paths == ["spec.retries", "spec.stop"]


def test_values_that_json_cannot_hold_are_named(tmp_path: Path) -> None:
    text = manifest("Run", "r", "spec:\n  dataflow: d\n  parameters: {x: {value: [1, .inf]}}\n")
    assert load_text(tmp_path, text) == [
        f"{tmp_path / 'm.yaml'} (document 1): Run/r at spec.parameters.x.value[1]:"
        " .inf is not a JSON number, so kubectl cannot send it"
    ]


def test_code_from_two_sources_is_rejected_as_the_crd_does(tmp_path: Path) -> None:
    text = FUNCTION.format(word="Z").replace(
        'code: {inline: "', 'code: {configMapKeyRef: {name: c, key: k.py}, inline: "'
    )
    problems = load_text(tmp_path, text)
    assert len(problems) == 1 and "at spec.code:" in problems[0], problems


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e3", 1000),  # a float to go-yaml; Go's JSON writes it as 1000
        ("2.0", 2),
        ("0.5", 0.5),
        (".5", 0.5),
        ("-.5", -0.5),
        ("0o17", 15),
        ("0777", 511),
        ("0x1F", 31),
        ("-0b101", -5),
        ("1_000", 1000),
        ("08", 8),  # not octal: go-yaml falls back to a float
        ("+12", 12),
        ("9223372036854775808", 9223372036854775808),  # fits uint64
        ("1e400", "1e400"),  # out of float64's range: a string
        ("1:30", "1:30"),  # PyYAML's sexagesimal 90
        ("2025-06-12", "2025-06-12"),  # a date stays text in JSON
        ("0x", "0x"),
        ("~", None),
        ("", None),
        ("Null", None),
        ("y", True),
        ("OFF", False),
        ("yEs", "yEs"),
    ],
)
def test_plain_scalars_resolve_as_go_yaml_v2_does(text: str, value: object) -> None:
    resolved = resolve_plain(text)[1]
    assert resolved == value and type(resolved) is type(value)


def test_special_floats() -> None:
    assert math.isnan(resolve_plain(".NaN")[1])
    assert resolve_plain("-.inf")[1] == -math.inf


def test_merge_keys_and_anchors_work() -> None:
    ((_, document),) = read_documents("base: &b {a: 1, b: y}\nother: {<<: *b, c: 2}\n")
    assert document == {"base": {"a": 1, "b": True}, "other": {"a": 1, "b": True, "c": 2}}


def test_dump_all_quotes_what_kubectl_would_read_otherwise() -> None:
    names = [*TRUE_WORDS, *FALSE_WORDS, "0o17", "1e3", "08", "~", "null", "", "X", "1:30"]
    text = dump_all([{"outputs": names, "n": 1}])
    assert "- 'y'" in text and "- '0o17'" in text and "- '1:30'" in text and "'n': 1" in text
    assert read_documents(text)[0][1] == {"outputs": names, "n": 1}
    # What kubectl reads is what PyYAML's own reader reads too.
    assert yaml.safe_load(text) == {"outputs": names, "n": 1}


def test_configmap_values_are_text_to_the_api_server(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: flags}\ndata: {debug: on, level: 3}\n"
    assert [p.split("ConfigMap/flags at ")[1] for p in load_text(tmp_path, text)] == [
        "data.debug: " + read_as("on", "the boolean true"),
        "data.level: " + read_as("3", "the number 3"),
    ]

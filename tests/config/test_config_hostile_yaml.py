"""Hostile YAML: each way a crafted file once crashed or stalled the loader, now a plain BadYamlError.

Every case here used to end in a Python traceback (a control character, a recursive alias, deep
nesting, a value its tag cannot hold) or run for minutes in gigabytes (an alias bomb). Each must
now be pcluster's "not a valid YAML document" answer with the line and column, quickly.
"""

from __future__ import annotations

import codecs
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

from stratus.config import BadYamlError, load_cluster_config
from stratus.config.yamlsource import (
    MAX_CONFIG_BYTES,
    MAX_NESTING,
    MAX_NODES,
    MAX_NUMBER_CHARS,
    parse_config_text,
    read_config_file,
)
from stratus.errors import UserError

DATA = Path(__file__).parent / "data"
PREFIX = "Bad Request: Configuration must be a valid YAML document. "


def bad_yaml(text: str) -> BadYamlError:
    with pytest.raises(BadYamlError) as caught:
        load_cluster_config(text)
    assert isinstance(caught.value, UserError)
    assert caught.value.to_json()["message"].startswith(PREFIX)
    return caught.value


def billion_laughs(levels: int = 9, fanout: int = 9) -> str:
    """``a: &a [x, ...]`` then each level a list of ``fanout`` aliases to the one before."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * fanout) + "]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * fanout) + "]")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# 1. Control characters


@pytest.mark.parametrize(
    ("text", "code", "line", "column"),
    [
        ("HeadNode:\n  InstanceType: t3.mi\x07cro\n", "0007", 2, 22),
        ("Head\x00Node:\n  InstanceType: t3.micro\n", "0000", 1, 5),
        ("Region: eu-west-1\r\nTags: [\x1b]\r\n", "001b", 2, 8),
        ("Region: eu-west-1\rTags: x\x7f\n", "007f", 2, 8),
        ("\ufeffRegion: x\ufffe\n", "fffe", 1, 10),
        ("Region: '\ud800'\n", "d800", 1, 10),
    ],
)
def test_control_character_is_bad_yaml_with_line_and_column(
    text: str, code: str, line: int, column: int
) -> None:
    error = bad_yaml(text)
    assert (error.line, error.column) == (line, column)
    assert error.to_json() == {
        "message": f"{PREFIX}Unacceptable character #x{code}: special characters are not allowed "
        f"(line {line}, column {column})"
    }


# --------------------------------------------------------------------------------------------
# 2. Recursive aliases


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("a: &a [*a]\n", 1, 8),
        ("a: &a {<<: *a}\n", 1, 12),
        ("a: &a {b: [1, {c: *a}]}\n", 1, 19),
        ("HeadNode: &h\n  InstanceType: t3.micro\n  Again: *h\n", 3, 10),
    ],
)
def test_recursive_alias_is_bad_yaml(text: str, line: int, column: int) -> None:
    error = bad_yaml(text)
    assert "Recursive alias: *" in error.message and "is used inside the node it names" in error.message
    assert (error.line, error.column) == (line, column)


def test_alias_to_an_earlier_sibling_is_not_recursive() -> None:
    data, _ = parse_config_text("a: &a [&b [x], *b]\nc: *a\n")
    assert data == {"a": [["x"], ["x"]], "c": [["x"], ["x"]]}


# --------------------------------------------------------------------------------------------
# 3. Deep nesting


@pytest.mark.parametrize(
    "text",
    [
        "[" * 10_000 + "]" * 10_000 + "\n",
        "a: " + "[" * 10_000 + "]" * 10_000 + "\n",
        "a: " + "{a: " * 5_000 + "}" * 5_000 + "\n",
        "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v\n",
        "".join("  " * i + "-\n" for i in range(200)) + "  " * 200 + "v\n",
    ],
)
def test_deeply_nested_yaml_is_bad_yaml(text: str) -> None:
    started = time.perf_counter()
    error = bad_yaml(text)
    assert time.perf_counter() - started < 1.0
    assert f"Nested too deeply: more than {MAX_NESTING} levels" in error.message
    assert error.line is not None and error.column is not None


def test_nesting_through_chained_aliases_is_counted() -> None:
    # Each line is ten levels deep and nests the previous one: no line is deep, the expansion is.
    lines = ["a0: &a0 [x]"]
    lines += [f"a{i}: &a{i} " + "[" * 10 + f"*a{i - 1}" + "]" * 10 for i in range(1, 20)]
    error = bad_yaml("\n".join(lines) + "\n")
    assert "Nested too deeply" in error.message and error.line == 8


def test_nesting_up_to_the_limit_is_read() -> None:
    # The top-level mapping is the first level.
    deepest = "a: " + "[" * (MAX_NESTING - 1) + "x" + "]" * (MAX_NESTING - 1) + "\n"
    data, source = parse_config_text(deepest)
    assert source.line(("a",) + (0,) * (MAX_NESTING - 1)) == 1
    assert data == yaml.safe_load(deepest)
    error = bad_yaml(deepest.replace("[x]", "[[x]]"))
    assert (error.line, error.column) == (1, len("a: ") + MAX_NESTING)


# --------------------------------------------------------------------------------------------
# 4. Alias bombs and oversized files


def test_alias_bomb_is_refused_quickly_in_bounded_memory() -> None:
    text = billion_laughs()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        error = bad_yaml(text)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 0.5
    assert peak < 5 * 2**20
    assert f"Too many values: the document expands to more than {MAX_NODES}" in error.message
    # Refused at the first alias that crosses the limit: the first *a4 (66,430 nodes) on line 6.
    assert (error.line, error.column) == (6, len("a5: &a5 [") + 1)


def test_expansion_up_to_the_node_limit_is_read() -> None:
    # Nodes: the root, keys a, b, c, their three lists, 999 + 98 * 1000 + remainder items.
    items = 999
    copies = 98
    remainder = MAX_NODES - (7 + items + copies * (items + 1))

    def text(extra: int) -> str:
        return (
            "a: &a [" + ",".join(["x"] * items) + "]\n"
            "b: [" + ",".join(["*a"] * copies) + "]\n"
            "c: [" + ",".join(["y"] * extra) + "]\n"
        )

    data, _ = parse_config_text(text(remainder))
    assert len(data["b"]) == copies and len(data["c"]) == remainder
    error = bad_yaml(text(remainder + 1))
    assert "Too many values" in error.message and error.line == 3


def test_oversized_yaml_is_refused() -> None:
    text = "Region: eu-west-1\n# " + "x" * MAX_CONFIG_BYTES + "\n"
    error = bad_yaml(text)
    assert error.to_json() == {
        "message": f"{PREFIX}The file is too large: {len(text)} bytes, the limit is {MAX_CONFIG_BYTES} "
        "bytes (1 MiB)."
    }
    # The limit is on bytes: two-byte characters reach it at half as many characters.
    wide = "Region: x\n# " + "é" * (MAX_CONFIG_BYTES // 2) + "\n"
    assert "The file is too large" in bad_yaml(wide).message
    small_enough = "Region: x\n# " + "x" * (MAX_CONFIG_BYTES - 20) + "\n"
    assert parse_config_text(small_enough)[0] == {"Region": "x"}


# --------------------------------------------------------------------------------------------
# Values PyYAML's constructors cannot hold


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HeadNode:\n  x: 2001-13-45\n", "Cannot read '2001-13-45' as timestamp: month must be in 1..12"),
        ("a: !!timestamp yesterday\n", "Cannot read 'yesterday' as timestamp"),
        ("a: !!int abc\n", "Cannot read 'abc' as int"),
        ("a: !!float x\n", "Cannot read 'x' as float"),
        ("a: !!bool maybe\n", "Cannot read 'maybe' as bool"),
    ],
)
def test_value_its_tag_cannot_hold_is_bad_yaml(text: str, expected: str) -> None:
    error = bad_yaml(text)
    assert expected in error.message
    assert error.line == text.count("\n")


@pytest.mark.parametrize(
    "number",
    [
        "9" * (MAX_NUMBER_CHARS + 1),
        "0x" + "f" * MAX_NUMBER_CHARS,
        "1" + ":1" * 600,
        "1" * MAX_NUMBER_CHARS + ".5",
    ],
)
def test_overlong_number_is_bad_yaml(number: str) -> None:
    error = bad_yaml(f"HeadNode:\n  InstanceType: {number}\n")
    assert f"Number too long: {len(number)} characters" in error.message
    assert (error.line, error.column) == (2, 17)


def test_long_numbers_within_the_limit_reach_the_schema() -> None:
    number = "0x" + "f" * (MAX_NUMBER_CHARS - 2)
    data, _ = parse_config_text(f"HeadNode:\n  InstanceType: {number}\n")
    assert data["HeadNode"]["InstanceType"] == int(number, 16)


# --------------------------------------------------------------------------------------------
# Real configs are read exactly as before


@pytest.mark.parametrize("name", ["walkthrough.yaml", "realistic.yaml"])
def test_real_configs_read_as_yaml_safe_load_reads_them(name: str) -> None:
    text = (DATA / name).read_text()
    data, _ = parse_config_text(text)
    assert data == yaml.safe_load(text)


# --------------------------------------------------------------------------------------------
# Reading the file: bounded, and bytes that do not decode are bad YAML


def test_read_config_file_reads_utf8_and_utf16_as_pyyaml_does(tmp_path: Path) -> None:
    text = (DATA / "walkthrough.yaml").read_text() + "# é 日本\n"
    plain = tmp_path / "plain.yaml"
    plain.write_bytes(text.encode())
    assert read_config_file(plain) == text
    wide = tmp_path / "wide.yaml"
    wide.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    assert parse_config_text(read_config_file(wide))[0] == yaml.safe_load(text)


def test_read_config_file_refuses_bytes_that_do_not_decode(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("Region: eu-west-1\nTags: [caf\u00e9]\n".encode("latin-1"))
    with pytest.raises(BadYamlError) as caught:
        read_config_file(path)
    assert caught.value.to_json() == {
        "message": f"{PREFIX}Unacceptable byte #xe9: invalid continuation byte in UTF-8 (line 2, column 11)"
    }
    assert caught.value.filename == str(path)


def test_read_config_file_refuses_an_oversized_file_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as stream:
        stream.truncate(64 * MAX_CONFIG_BYTES)  # sparse: nothing to read but zeros
    with pytest.raises(BadYamlError) as caught:
        read_config_file(path, filename="huge")
    assert caught.value.message == (
        f"{PREFIX}The file is too large: {64 * MAX_CONFIG_BYTES} bytes, the limit is {MAX_CONFIG_BYTES} "
        "bytes (1 MiB)."
    )
    with pytest.raises(FileNotFoundError):
        read_config_file(tmp_path / "missing.yaml")


def test_regression_a_huge_max_count_ran_out_of_memory() -> None:
    """Found by the fuzzing campaign: MaxCount 2**64 made validation enumerate its nodes."""
    import time

    from stratus.config import ConfigValidationError, load_cluster_config

    text = (
        "HeadNode:\n  InstanceType: t2.micro\nScheduling:\n  Scheduler: slurm\n  SlurmQueues:\n"
        "  - Name: q\n    ComputeResources:\n    - Name: c\n      InstanceType: t2.micro\n"
        "      MaxCount: 18446744073709551616\n"
    )
    t0 = time.monotonic()
    with pytest.raises(ConfigValidationError) as err:
        load_cluster_config(text)
    assert time.monotonic() - t0 < 5
    assert any("Must be less than or equal to 10000" in e.message for e in err.value.errors)

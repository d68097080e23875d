"""Property: whatever text the loader is given, it loads or raises its own errors, and promptly.

The inputs are YAML-shaped fragments (brackets, anchors and aliases, merge keys, explicit tags,
numbers of every base and size, control characters, unusual line breaks and unicode), real
configs with such fragments spliced in, alias bombs and deep nesting of random shapes, and raw
bytes decoded as a file reader might. Anything but a ``BadYamlError`` or a
``ConfigValidationError`` (a ``RecursionError``, ``ValueError``, ``KeyError`` ...) fails the
property, as does an error the CLI could not print or an example slower than the deadline.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratus.config import BadYamlError, ConfigValidationError, load_cluster_config

DATA = Path(__file__).parent / "data"
WALKTHROUGH = (DATA / "walkthrough.yaml").read_text()

# No example database: the tests leave nothing behind in the working tree.
FUZZ = settings(
    deadline=timedelta(seconds=10),  # generous: the machine is shared; the campaign times inputs
    database=None,
    derandomize=True,  # the same examples every run: CI stays deterministic
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

FRAGMENTS = [
    *"[]{}:,-?&*!|>'\"#%@`",
    "\n",
    "\r\n",
    "\r",
    "  ",
    "\t",
    " ",
    "- ",
    ": ",
    "? ",
    "---\n",
    "...\n",
    "&a ",
    "&b ",
    "*a",
    "*b",
    "<<: ",
    "<<: *a",
    "<<: [*a, *b]",
    "&a [*a]",
    "&a {<<: *a}",
    "!!int ",
    "!!float ",
    "!!bool ",
    "!!timestamp ",
    "!!binary ",
    "!!set ",
    "!!omap ",
    "!!pairs ",
    "!!str ",
    "!!seq ",
    "!!map ",
    "!!null ",
    "!!python/object:os.system ",
    "!local ",
    "!<tag:x> ",
    "%YAML 1.1\n",
    "%TAG ! tag:x,2000:\n",
    "0x" + "f" * 40,
    "0b" + "1" * 70,
    "0o777",
    "1_000",
    "9" * 5000,
    "1" + ":59" * 400,
    "1e999",
    "-.inf",
    ".nan",
    "0.5",
    "2001-13-45",
    "2001-12-14t21:59:43.10-05:00",
    "~",
    "null",
    "yes",
    "No",
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\ufffe",
    "\ud800",
    "é",
    "ß",
    "日本",
    "😀",
    "\u200b",
    "\u202e",
    "HeadNode",
    "Scheduling",
    "SlurmQueues",
    "ComputeResources",
    "InstanceType",
    "Name",
    "MaxCount",
    "Region",
    "Tags",
    "Image",
    "Os",
    "t3.micro",
    "c5.large",
    "slurm",
    "q1",
    "cr1",
]

yamlish = st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join)
any_text = st.text(st.characters(exclude_categories=()), max_size=300)
raw_bytes = st.binary(max_size=400).flatmap(
    lambda raw: st.sampled_from(
        [raw.decode("latin-1"), raw.decode("utf-8", "replace"), raw.decode("utf-8", "surrogateescape")]
    )
)


@st.composite
def spliced_config(draw: st.DrawFn) -> str:
    """The walkthrough config with a fragment inserted, or a slice replaced, somewhere."""
    text = WALKTHROUGH
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + 20)))
    return text[:start] + draw(st.one_of(yamlish, any_text)) + text[end:]


@st.composite
def nested(draw: st.DrawFn) -> str:
    """Brackets, braces, block indentation or chained aliases, from shallow to far too deep."""
    depth = draw(st.one_of(st.integers(0, 80), st.integers(80, 20_000)))
    shape = draw(st.sampled_from(["flow-list", "flow-map", "mixed", "block", "aliases"]))
    if shape == "flow-list":
        return "a: " + "[" * depth + "x" + "]" * draw(st.integers(0, depth))
    if shape == "flow-map":
        return "a: " + "{k: " * depth + "x" + "}" * depth
    if shape == "mixed":
        pattern = draw(st.lists(st.sampled_from(["[", "{k: "]), min_size=1, max_size=40))
        opens = (pattern * (depth // len(pattern) + 1))[:depth]
        closes = "".join("]" if o == "[" else "}" for o in reversed(opens))
        return "a: " + "".join(opens) + "x" + closes
    if shape == "block":
        depth = min(depth, 300)
        return "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "v\n"
    links = min(depth, 200)
    lines = ["a0: &a0 [x]"] + [f"a{i}: &a{i} [[*a{i - 1}]]" for i in range(1, links)]
    return "\n".join(lines) + "\n"


@st.composite
def alias_bomb(draw: st.DrawFn) -> str:
    """Each level a collection of aliases to the level before: ``fanout ** levels`` nodes."""
    levels = draw(st.integers(1, 12))
    fanout = draw(st.integers(1, 12))
    mapping = draw(st.booleans())
    lines = ["a0: &a0 [" + ", ".join(["lol"] * fanout) + "]"]
    for level in range(1, levels):
        if mapping:
            items = ", ".join(f"k{i}: *a{level - 1}" for i in range(fanout))
            lines.append(f"a{level}: &a{level} {{{items}}}")
        else:
            lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * fanout) + "]")
    if draw(st.booleans()):
        lines.append(f"m: {{<<: [{', '.join(f'*a{i}' for i in range(levels) if mapping and i)}]}}")
    return "\n".join(lines) + "\n"


def loads_or_refuses(text: str) -> None:
    """The property: a load, or one of the loader's errors that the CLI can print as JSON."""
    try:
        loaded = load_cluster_config(text)
    except (BadYamlError, ConfigValidationError) as exc:
        json.dumps(exc.to_json())
        str(exc)
    else:
        json.dumps(loaded.messages_json())


@settings(FUZZ, max_examples=120)
@given(st.one_of(yamlish, any_text, raw_bytes))
def test_arbitrary_text_loads_or_raises_the_loader_errors(text: str) -> None:
    loads_or_refuses(text)


@settings(FUZZ, max_examples=100)
@given(spliced_config())
def test_damaged_real_config_loads_or_raises_the_loader_errors(text: str) -> None:
    loads_or_refuses(text)


@settings(FUZZ, max_examples=80)
@given(st.one_of(nested(), alias_bomb()))
def test_deep_or_explosive_yaml_loads_or_raises_the_loader_errors(text: str) -> None:
    loads_or_refuses(text)

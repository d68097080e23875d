"""Reading a YAML config while remembering where every key and list item came from.

PyYAML's ``safe_load`` throws positions away. Here the document is composed once into PyYAML's
node tree (which carries a start mark per node), constructed into plain Python data with the
SafeLoader rules (so values are exactly what ``yaml.safe_load`` would give, as ParallelCluster
reads them), and walked once more to record, for every path into the data, the 1-based line and
column it starts at. A path is a tuple of mapping keys and list indices, for example
``("Scheduling", "SlurmQueues", 0, "ComputeResources", 0, "InstanceType")``.

The file is untrusted input, so reading it is bounded: the text may be at most
``MAX_CONFIG_BYTES``, lists and mappings may nest at most ``MAX_NESTING`` levels deep, the
document may expand to at most ``MAX_NODES`` nodes (an alias counts the whole subtree it names
each time it is used, which is what stops "billion laughs" documents), an alias may not refer to
a node that contains it, and a number's text may be at most ``MAX_NUMBER_CHARS`` long. These are
checked while the document is composed, before anything is expanded, so a refused document costs
time and memory in proportion to the part read before the limit was crossed. A breach, like
every other failure to read the YAML (a control character, a value its tag cannot hold, such as
``2001-13-45`` or ``!!int abc``), is a ``BadYamlError`` with the line and column.
"""

from __future__ import annotations

import codecs
import configparser
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from stratus.config.errors import BadYamlError

ConfigPath = tuple[str | int, ...]

#: Largest config accepted, in bytes of UTF-8. A production config is a few KiB, and even one
#: with pcluster's maximum of queues and compute resources a few hundred. PyYAML's pure-Python
#: reader needs about half a second for a MiB of long values; with ``MAX_NODES`` and
#: ``MAX_NESTING`` this bounds the time spent on any file to a few seconds (the worst found: a
#: line of 100,000 tightly nested brackets, some 4 s on a slow core).
MAX_CONFIG_BYTES = 1 << 20
#: Deepest nesting of lists and mappings, counted after expanding aliases and merge keys. A real
#: config nests under 10 levels; 64 keeps every recursive walk of the data (construction,
#: validation, error reports) far from Python's recursion limit.
MAX_NESTING = 64
#: Most nodes (keys, values, lists and mappings) the document may expand to, an alias counting
#: the nodes it names every time it is used. A real config has a few hundred (the production
#: example in the tests, 405); this leaves room for the largest pcluster allows.
MAX_NODES = 100_000
#: Longest text of an integer or a float. Converting longer ones can take quadratic time
#: (``1:2:3:...`` is a base-60 integer) or give numbers Python refuses to print.
MAX_NUMBER_CHARS = 1000

_V2_PROBLEM = "The file is a ParallelCluster 2 (INI) configuration, not YAML."
_V2_MESSAGE = (
    "Bad Request: ParallelCluster 3 requires configuration files to be valid YAML documents. This looks "
    "like a ParallelCluster 2 (INI) configuration file: convert it with `pcluster3-config-converter "
    "--config-file <input_file> --output-file <output_file>`."
)


@dataclass(frozen=True)
class SourceMap:
    """Where each path of a parsed document starts in the file (1-based line and column)."""

    positions: Mapping[ConfigPath, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: ConfigPath) -> tuple[int, int] | None:
        """Position of ``path``, or of its longest prefix present in the file.

        Falling back to the prefix is what makes "missing required field" messages useful: the
        field is absent, so the message points at the section that should contain it. ``None``
        when not even the first key of ``path`` is in the file.
        """
        for end in range(len(path), 0, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return found
        return None

    def line(self, path: ConfigPath) -> int | None:
        """Line of ``path`` (or of its nearest present ancestor); ``None`` if none is present."""
        found = self.position(path)
        return found[0] if found is not None else None


def format_path(path: ConfigPath) -> str:
    """``("Scheduling", "SlurmQueues", 0, "Name")`` -> ``Scheduling.SlurmQueues[0].Name``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def parse_config_text(
    text: str, *, filename: str = "cluster-config.yaml"
) -> tuple[dict[str, Any], SourceMap]:
    """Parse ``text`` as one YAML mapping; return the data and where each path starts.

    Raises ``BadYamlError``, and nothing else, for any text that is not such a mapping: a syntax
    error or a character YAML does not allow (with YAML's problem and 1-based position), a value
    its tag cannot hold, more than one document, a document that is empty or not a mapping, and
    a document past the limits above (too large, nested too deeply, expanding to too many
    nodes, a recursive alias, an overlong number). A file that is not YAML but parses as an INI
    file with sections gets ParallelCluster's hint about converting version 2 configurations.
    Time and memory are bounded by the limits whatever the text.
    """
    if not text:
        # pcluster's own answer to an empty configuration file.
        raise BadYamlError(
            "The configuration is empty.",
            filename=filename,
            message="Bad Request: configuration is required and cannot be empty",
        )
    _check_size(text, filename)
    try:
        loader = _BoundedLoader(text)
    except yaml.reader.ReaderError as exc:
        # A character YAML does not allow (control characters, U+FFFE ...). PyYAML checks the
        # whole text before parsing and reports an offset, not a line: give the line and column.
        line, column = _position_of(text, exc.position)
        problem = f"unacceptable character #x{exc.character:04x}: {exc.reason}"
        raise _syntax_error(text, problem, line, column, filename) from exc
    try:
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
            positions: dict[ConfigPath, tuple[int, int]] = {}
            if node is not None and isinstance(data, dict):
                _record(loader, node, (), positions)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            # PyYAML splits some messages in two ("while scanning a simple key" / "could not
            # find expected ':'"); both halves together read as one sentence.
            problem = ", ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
            at_line = mark.line + 1 if mark is not None else None
            at_column = mark.column + 1 if mark is not None else None
            if isinstance(exc, _Refused):
                # Well-formed YAML refused for its size or shape: not a sign of an INI file.
                raise BadYamlError(
                    _sentence(problem), line=at_line, column=at_column, filename=filename
                ) from exc
            raise _syntax_error(text, problem, at_line, at_column, filename) from exc
        except yaml.YAMLError as exc:
            first_line = next(iter(str(exc).splitlines()), "")
            raise BadYamlError(_sentence(first_line), filename=filename) from exc
        if node is None or data is None:
            raise BadYamlError("The file has no content, only blanks or comments.", filename=filename)
        if not isinstance(data, dict):
            if _looks_like_ini(text):
                raise BadYamlError(_V2_PROBLEM, filename=filename, message=_V2_MESSAGE)
            kind = "a list" if isinstance(data, list) else f"a single {type(data).__name__} value"
            raise BadYamlError(
                f"The document is {kind}, not a mapping of configuration keys",
                line=node.start_mark.line + 1,
                column=node.start_mark.column + 1,
                filename=filename,
            )
        return data, SourceMap(positions)
    finally:
        loader.dispose()


def read_config_file(path: str | os.PathLike[str], *, filename: str | None = None) -> str:
    """The text of the config file at ``path``, read within ``MAX_CONFIG_BYTES``.

    Decodes as PyYAML decodes bytes: UTF-16 when the file starts with a UTF-16 byte order mark,
    UTF-8 otherwise. Raises ``BadYamlError`` (naming ``filename``, by default ``path``) for a
    file over the size limit, without reading more than one byte past it, and for bytes that do
    not decode, with the line and column of the first bad byte. ``OSError`` (a missing or
    unreadable file) is left to the caller, whose message for it differs by command.
    """
    name = str(path) if filename is None else filename
    with open(path, "rb") as stream:
        raw = stream.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            size = os.fstat(stream.fileno()).st_size
            raise BadYamlError(_too_large(max(size, len(raw))), filename=name)
    if raw.startswith(codecs.BOM_UTF16_LE):
        encoding = "utf-16-le"
    elif raw.startswith(codecs.BOM_UTF16_BE):
        encoding = "utf-16-be"
    else:
        encoding = "utf-8"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        decoded = raw[: exc.start].decode(encoding)
        line, column = _position_of(decoded, len(decoded))
        bad = raw[exc.start]
        raise BadYamlError(
            f"Unacceptable byte #x{bad:02x}: {exc.reason} in {encoding.upper()}",
            line=line,
            column=column,
            filename=name,
        ) from exc


def _too_large(size: int) -> str:
    limit = f"{MAX_CONFIG_BYTES} bytes ({MAX_CONFIG_BYTES >> 20} MiB)"
    return f"The file is too large: {size} bytes, the limit is {limit}"


def _check_size(text: str, filename: str) -> None:
    # Characters never outnumber UTF-8 bytes, so a text too long in characters is refused without
    # encoding it; "surrogatepass" lets a lone surrogate be measured (YAML refuses it later).
    size = len(text) if len(text) > MAX_CONFIG_BYTES else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_CONFIG_BYTES:
        raise BadYamlError(_too_large(size), filename=filename)


def _syntax_error(
    text: str, problem: str, line: int | None, column: int | None, filename: str
) -> BadYamlError:
    """The error for text that is not YAML: the INI hint if it is a version 2 file, else the problem."""
    if _looks_like_ini(text):
        return BadYamlError(_V2_PROBLEM, filename=filename, message=_V2_MESSAGE)
    return BadYamlError(_sentence(problem), line=line, column=column, filename=filename)


# What PyYAML's reader counts as a line break: "\r\n" is one, a lone "\r" is one.
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _position_of(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of character ``offset``, counted as PyYAML counts its marks."""
    before = text[:offset]
    line = 1
    line_start = 0
    for match in _LINE_BREAK.finditer(before):
        line += 1
        line_start = match.end()
    # PyYAML does not advance the column over a byte order mark.
    column = offset - line_start - before.count("\ufeff", line_start) + 1
    return line, column


class _Refused(yaml.MarkedYAMLError):
    """Well-formed YAML refused for its size or shape (a limit, a recursive alias, a bad value)."""


def _mark(event: yaml.Event) -> yaml.Mark | None:
    # The pure-Python parser always gives yaml.Mark; the stubs also allow libyaml's.
    return event.start_mark if isinstance(event.start_mark, yaml.Mark) else None


_NUMBER_TAGS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, with the limits of this module enforced while composing.

    Each node composed records, if it carries an anchor, how many nodes it expands to and how
    many levels of lists and mappings it spans, so an alias is charged its full expansion at
    the moment it is used, without expanding anything. An anchored node still being composed
    has no record yet, which is how an alias to one of its own ancestors is recognised.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0  # lists and mappings open around the node being composed
        self._deepest = 0  # deepest level reached, aliases expanded, in the current subtree
        self._nodes = 0  # nodes in the document so far, aliases expanded
        self._shapes: dict[yaml.Node, tuple[int, int]] = {}  # anchored node -> (nodes, levels)

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        mark = _mark(event)
        base = self._depth
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is PyYAML's own error
                shape = self._shapes.get(target)
                if shape is None:
                    raise _Refused(
                        problem=f"recursive alias: *{event.anchor} is used inside the node it names",
                        problem_mark=mark,
                    )
                nodes, levels = shape
                self._count(nodes, mark)
                self._reach(base + levels, mark)
            return super().compose_node(parent, index)
        anchor = event.anchor if isinstance(event, yaml.NodeEvent) else None
        outer_deepest, self._deepest = self._deepest, base
        nodes_before = self._nodes
        self._count(1, mark)
        if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            self._depth += 1
            self._reach(self._depth, mark)
        node = super().compose_node(parent, index)
        self._depth = base
        if node is not None and anchor is not None:
            self._shapes[node] = (self._nodes - nodes_before, self._deepest - base)
        self._deepest = max(outer_deepest, self._deepest)
        return node

    def _count(self, nodes: int, mark: yaml.Mark | None) -> None:
        self._nodes += nodes
        if self._nodes > MAX_NODES:
            raise _Refused(
                problem=f"too many values: the document expands to more than {MAX_NODES} keys and "
                "values (an alias counts again each time it is used)",
                problem_mark=mark,
            )

    def _reach(self, level: int, mark: yaml.Mark | None) -> None:
        if level > MAX_NESTING:
            raise _Refused(
                problem=f"nested too deeply: more than {MAX_NESTING} levels of lists and mappings "
                "(aliases expanded)",
                problem_mark=mark,
            )
        self._deepest = max(self._deepest, level)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if (
            isinstance(node, yaml.ScalarNode)
            and node.tag in _NUMBER_TAGS
            and len(node.value) > MAX_NUMBER_CHARS
        ):
            raise _Refused(
                problem=f"number too long: {len(node.value)} characters, the limit is {MAX_NUMBER_CHARS}",
                problem_mark=node.start_mark,
            )
        try:
            return super().construct_object(node, deep)
        except (ArithmeticError, AttributeError, LookupError, TypeError, ValueError) as exc:
            # PyYAML's scalar constructors assume text their tag's pattern matched: an explicit
            # tag (``!!int abc``, ``!!timestamp x``) or an impossible date (``2001-13-45``)
            # fails inside Python's conversions instead of as a YAML error.
            tag = node.tag.removeprefix("tag:yaml.org,2002:")
            value = node.value if isinstance(node.value, str) else ""
            shown = value if len(value) <= 40 else value[:37] + "..."
            raise _Refused(
                problem=f"cannot read {shown!r} as {tag}: {exc}", problem_mark=node.start_mark
            ) from exc


def _record(
    loader: yaml.SafeLoader, node: yaml.Node, path: ConfigPath, out: dict[ConfigPath, tuple[int, int]]
) -> None:
    if isinstance(node, yaml.MappingNode):
        # SafeLoader has already flattened merge keys (<<) into node.value; later duplicates
        # overwrite earlier ones here exactly as they do in the constructed dict.
        for key_node, value_node in node.value:
            key = _key(loader, key_node)
            child = (*path, key)
            out[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _record(loader, value_node, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            out[child] = (item.start_mark.line + 1, item.start_mark.column + 1)
            _record(loader, item, child, out)


def _key(loader: yaml.SafeLoader, key_node: yaml.Node) -> str | int:
    # Keys are compared with the constructed data, so they are constructed the same way; any
    # key that is neither a string nor an int (true, 1.5, null) is kept as its text.
    if isinstance(key_node, yaml.ScalarNode):
        value = loader.construct_object(key_node)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return value
        return str(key_node.value)
    return str(key_node.value)


def _sentence(problem: str) -> str:
    problem = problem.strip()
    if not problem:
        return "Invalid YAML"
    return problem[0].upper() + problem[1:]


def _looks_like_ini(text: str) -> bool:
    parser = configparser.ConfigParser()
    try:
        parser.read_string(text)
    except configparser.Error:
        return False
    return bool(parser.sections())

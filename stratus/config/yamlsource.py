"""Reading a YAML config while remembering where every key and list item came from.

PyYAML's ``safe_load`` throws positions away. Here the document is composed once into PyYAML's
node tree (which carries a start mark per node), constructed into plain Python data with the
SafeLoader rules (so values are exactly what ``yaml.safe_load`` would give, as ParallelCluster
reads them), and walked once more to record, for every path into the data, the 1-based line and
column it starts at. A path is a tuple of mapping keys and list indices, for example
``("Scheduling", "SlurmQueues", 0, "ComputeResources", 0, "InstanceType")``.
"""

from __future__ import annotations

import configparser
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from stratus.config.errors import BadYamlError

ConfigPath = tuple[str | int, ...]

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

    Raises ``BadYamlError`` for a syntax error (with YAML's problem and 1-based position), for
    more than one document, and for a document that is empty or not a mapping. A file that is
    not YAML but parses as an INI file with sections gets ParallelCluster's hint about
    converting version 2 configurations.
    """
    if not text:
        # pcluster's own answer to an empty configuration file.
        raise BadYamlError(
            "The configuration is empty.",
            filename=filename,
            message="Bad Request: configuration is required and cannot be empty",
        )
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        except yaml.MarkedYAMLError as exc:
            if _looks_like_ini(text):
                raise BadYamlError(_V2_PROBLEM, filename=filename, message=_V2_MESSAGE) from exc
            mark = exc.problem_mark or exc.context_mark
            # PyYAML splits some messages in two ("while scanning a simple key" / "could not
            # find expected ':'"); both halves together read as one sentence.
            problem = ", ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
            raise BadYamlError(
                _sentence(problem),
                line=mark.line + 1 if mark is not None else None,
                column=mark.column + 1 if mark is not None else None,
                filename=filename,
            ) from exc
        except yaml.YAMLError as exc:
            raise BadYamlError(_sentence(str(exc).splitlines()[0]), filename=filename) from exc
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
        positions: dict[ConfigPath, tuple[int, int]] = {}
        _record(loader, node, (), positions)
        return data, SourceMap(positions)
    finally:
        loader.dispose()


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

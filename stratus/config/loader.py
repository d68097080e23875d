"""Loading a cluster config: YAML, then schema, then semantic validation, then the layout.

This is ``pcluster``'s validation pipeline (``Cluster._validate_and_parse_config``) with file
positions added to every message:

1. The text must be one YAML mapping, else ``BadYamlError``.
2. It must match the schema. Schema problems are ``ConfigSchemaValidator`` errors, one per
   problem, and are always fatal: neither ``suppress_validators`` nor ``failure_level`` applies.
3. Semantic validators run; ``suppress_validators`` drops findings (``ALL`` or
   ``type:<ValidatorName>``), then any finding at or above ``failure_level`` makes the load fail.
   Findings the layout depends on (see ``validators``) fail it regardless.
4. The layout is built from the validated config.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import ErrorDetails

from stratus.config.errors import LEVEL_RANK, ConfigValidationError, Level, ValidationMessage
from stratus.config.layout import ClusterLayout, HostFacts, build_layout
from stratus.config.schema import RULE_ERROR, ClusterConfig
from stratus.config.validators import Finding, validate_config
from stratus.config.yamlsource import ConfigPath, SourceMap, format_path, parse_config_text
from stratus.errors import UserError

SCHEMA_VALIDATOR = "ConfigSchemaValidator"
_SUPPRESS_PATTERN = re.compile(r"^(ALL|type:[A-Za-z0-9]+)$")


@dataclass(frozen=True)
class LoadedConfig:
    """A config that loaded: what the file said, what it means, and what it builds.

    ``raw`` is the YAML as loaded (the document pcluster would store); ``config`` the validated
    model; ``messages`` the findings below the failure level, which pcluster returns as
    ``validationMessages`` on success; ``layout`` the cluster to build. ``source`` maps config
    paths to file positions.
    """

    raw: dict[str, Any]
    config: ClusterConfig
    messages: list[ValidationMessage]
    layout: ClusterLayout
    filename: str
    source: SourceMap

    def messages_json(self) -> list[dict[str, str]]:
        """``validationMessages`` as pcluster prints them."""
        return [message.to_json() for message in self.messages]


def load_cluster_config(
    text: str,
    *,
    filename: str = "cluster-config.yaml",
    suppress_validators: Sequence[str] = (),
    failure_level: str = "ERROR",
    cluster_name: str | None = None,
    hosts: HostFacts | None = None,
) -> LoadedConfig:
    """Parse, validate and lay out a ParallelCluster v3 cluster config.

    ``suppress_validators`` takes pcluster's ``--suppress-validators`` expressions (``ALL`` or
    ``type:NameValidator``); ``failure_level`` its ``--validation-failure-level`` (``INFO``,
    ``WARNING`` or ``ERROR``). With ``cluster_name``, the name is checked as pcluster's
    ``ClusterNameValidator`` does (at most 60 characters, 40 with Slurm accounting), as part of
    the config validation. ``hosts`` gives the resources of the hosts of ``Stratus.Providers``
    (see ``build_layout``); when it is a function that probes them, it is called only once the
    config is valid, and what it raises goes through. Raises ``BadYamlError`` when the text is
    not a YAML mapping, ``ConfigValidationError`` when the config is invalid, and ``UserError``
    for a malformed suppression expression or failure level. Nothing is created either way.
    """
    level = _failure_level(failure_level)
    suppress_all, suppressed_types = _suppressions(suppress_validators)
    raw, source = parse_config_text(text, filename=filename)
    try:
        config = ClusterConfig.model_validate(raw)
    except PydanticValidationError as exc:
        errors = schema_messages(exc, source)
        raise ConfigValidationError(errors, filename=filename) from None
    kept: list[Finding] = [
        finding
        for finding in validate_config(config, raw, source, cluster_name=cluster_name)
        if finding.blocking or not (suppress_all or finding.type in suppressed_types)
    ]
    threshold = LEVEL_RANK[level]
    failed = [f for f in kept if f.blocking or LEVEL_RANK[f.level] >= threshold]
    if failed:
        raise ConfigValidationError(
            [_message(f) for f in failed],
            [_message(f) for f in kept if f not in failed],
            filename=filename,
            ordered=[_message(f) for f in kept],
        )
    return LoadedConfig(
        raw=raw,
        config=config,
        messages=[_message(f) for f in kept],
        layout=build_layout(config, hosts),
        filename=filename,
        source=source,
    )


def _message(finding: Finding) -> ValidationMessage:
    # A blocking finding is reported as an ERROR even if its validator would rate it lower.
    level: Level = "ERROR" if finding.blocking else finding.level
    return ValidationMessage(level, finding.type, finding.message)


def _failure_level(value: str) -> Level:
    if value == "INFO":
        return "INFO"
    if value == "WARNING":
        return "WARNING"
    if value == "ERROR":
        return "ERROR"
    raise UserError(f"Invalid validation failure level '{value}': use one of INFO, WARNING, ERROR.")


def _suppressions(expressions: Sequence[str]) -> tuple[bool, frozenset[str]]:
    if isinstance(expressions, str):
        expressions = [expressions]
    types_: set[str] = set()
    suppress_all = False
    for expression in expressions:
        if not _SUPPRESS_PATTERN.match(expression):
            raise UserError(
                f"Bad Request: '{expression}' does not match '{_SUPPRESS_PATTERN.pattern}' - "
                "'suppress-validators'"
            )
        if expression == "ALL":
            suppress_all = True
        else:
            types_.add(expression.removeprefix("type:"))
    return suppress_all, frozenset(types_)


# --------------------------------------------------------------------------------------------
# Schema errors


def schema_messages(exc: PydanticValidationError, source: SourceMap) -> list[ValidationMessage]:
    """One ``ConfigSchemaValidator`` ERROR per schema problem, in file order.

    Each message names the path (``Scheduling.SlurmQueues[0].ComputeResources[0].MaxCount``)
    and the line of the key, or of the nearest enclosing key when the problem is a missing
    field, followed by marshmallow's wording as pcluster prints it (``Unknown field.``,
    ``Missing data for required field.`` ...), with a hint where one helps.
    """
    located: list[tuple[int, int, ValidationMessage]] = []
    for order, error in enumerate(exc.errors(include_url=False)):
        path: ConfigPath = tuple(error["loc"])
        text = _schema_text(error, path)
        line = source.line(path)
        where = format_path(path) or "<document>"
        if line is not None:
            where += f" (line {line})"
        located.append((line or 0, order, ValidationMessage("ERROR", SCHEMA_VALIDATOR, f"{where}: {text}")))
    located.sort(key=lambda item: (item[0], item[1]))
    return [message for _, _, message in located]


def _schema_text(error: ErrorDetails, path: ConfigPath) -> str:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    value = error.get("input")
    if kind == RULE_ERROR:
        return str(ctx.get("detail", error["msg"]))
    if kind == "extra_forbidden":
        return "Unknown field." + _key_hint(path)
    if kind == "missing":
        return "Missing data for required field."
    simple = {
        "string_type": "Not a valid string.",
        "int_type": "Not a valid integer.",
        "int_parsing": "Not a valid integer.",
        "int_from_float": "Not a valid integer.",
        "float_type": "Not a valid number.",
        "float_parsing": "Not a valid number.",
        "bool_type": "Not a valid boolean.",
        "bool_parsing": "Not a valid boolean.",
        "list_type": "Not a valid list.",
        "dict_type": "Not a valid mapping.",
        "model_type": "Invalid input type, expected a mapping of keys.",
        "model_attributes_type": "Invalid input type, expected a mapping of keys.",
    }
    if kind in simple:
        return f"{simple[kind]} Got: {_short(value)}."
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        choices = [c.strip().strip("'") for c in re.split(r",| or ", expected) if c.strip()]
        return f"Must be one of: {', '.join(choices)}. Got: {_short(value)}."
    bounds = {
        "greater_than_equal": ("greater than or equal to", "ge"),
        "greater_than": ("greater than", "gt"),
        "less_than_equal": ("less than or equal to", "le"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"Must be {words} {ctx.get(key)}. Got: {_short(value)}."
    if kind == "string_pattern_mismatch":
        return f"String does not match expected pattern '{ctx.get('pattern')}'. Got: {_short(value)}."
    if kind == "string_too_long":
        return f"Longer than maximum length {ctx.get('max_length')}."
    if kind == "string_too_short":
        return f"Shorter than minimum length {ctx.get('min_length')}."
    if kind == "too_short":
        return f"Must contain at least {ctx.get('min_length')} item(s)."
    if kind == "too_long":
        return f"Must contain at most {ctx.get('max_length')} item(s)."
    return str(error["msg"]) + "."


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _key_hint(path: ConfigPath) -> str:
    """``Did you mean 'MaxCount'?`` for an unknown key close to a valid one at the same place."""
    if not path or not isinstance(path[-1], str):
        return ""
    model = _model_at(path[:-1])
    if model is None:
        return ""
    keys = [field.alias or name for name, field in model.model_fields.items()]
    by_lower = {key.lower(): key for key in keys}
    close = difflib.get_close_matches(path[-1].lower(), list(by_lower), n=1, cutoff=0.7)
    if close:
        return f" Did you mean '{by_lower[close[0]]}'?"
    return ""


def _model_at(path: ConfigPath) -> type[BaseModel] | None:
    """The schema model that validates the mapping at ``path``, or ``None`` if there is none."""
    current: Any = ClusterConfig
    for part in path:
        if isinstance(part, int):
            current = _item_type(current)
            continue
        model = _as_model(current)
        if model is None:
            return None
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return None
        current = field.annotation
    return _as_model(current)


def _unwrap(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [inner for arg in get_args(annotation) if arg is not type(None) for inner in _unwrap(arg)]
    return [annotation]


def _as_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _item_type(annotation: Any) -> Any:
    for candidate in _unwrap(annotation):
        if get_origin(candidate) is list:
            return get_args(candidate)[0]
    return None

"""Validation results and the two ways loading a cluster config can fail, in ParallelCluster's shapes.

``pcluster create-cluster`` answers an invalid config with HTTP 400 / exit 1 and
``{"message": "Invalid cluster configuration.", "configurationValidationErrors": [...]}``, and a
file that is not YAML with ``{"message": "Bad Request: Configuration must be a valid YAML
document. ..."}``. These classes produce exactly those documents (``to_json``), so the CLI and the
REST API can print them unchanged; stratus adds the file position to the text of each message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from stratus.errors import UserError

Level = Literal["INFO", "WARNING", "ERROR"]

#: Ordering of levels, as ParallelCluster's ``FailureLevel`` (INFO=20, WARNING=30, ERROR=40).
LEVEL_RANK: dict[str, int] = {"INFO": 20, "WARNING": 30, "ERROR": 40}


@dataclass(frozen=True)
class ValidationMessage:
    """One validation finding: ParallelCluster's ``ConfigValidationMessage``.

    ``type`` is the name of the validator that produced it (``NameValidator``,
    ``ConfigSchemaValidator`` ...), the handle ``--suppress-validators type:<name>`` uses.
    ``message`` names the config path and line it is about, when it is about one.
    """

    level: Level
    type: str
    message: str

    def to_json(self) -> dict[str, str]:
        """The message as pcluster prints it: ``{"level", "type", "message"}``."""
        return {"level": self.level, "type": self.type, "message": self.message}


class ConfigValidationError(UserError):
    """The config parsed as YAML but is invalid; nothing was created.

    ``errors`` are the findings at or above the failure level (and the schema errors, which are
    always fatal); ``validation_messages`` are the findings below it, which a successful load
    would have returned. ``to_json()`` lists both under ``configurationValidationErrors``, in
    file order, as ParallelCluster does.
    """

    message = "Invalid cluster configuration."

    def __init__(
        self,
        errors: Sequence[ValidationMessage],
        validation_messages: Sequence[ValidationMessage] = (),
        *,
        filename: str = "cluster-config.yaml",
        ordered: Sequence[ValidationMessage] | None = None,
    ) -> None:
        self.errors = list(errors)
        self.validation_messages = list(validation_messages)
        self.filename = filename
        # ``ordered`` keeps the interleaving of errors and lower-level messages by position in
        # the file; without it errors come first.
        self._all = list(ordered) if ordered is not None else self.errors + self.validation_messages
        lines = [f"{m.level} {m.type}: {m.message}" for m in self.errors]
        super().__init__("\n".join([f"{filename}: {self.message}", *lines]))

    def to_json(self) -> dict[str, object]:
        """``{"configurationValidationErrors": [...], "message": "Invalid cluster configuration."}``."""
        # Key order as pcluster prints it (its response model lists the errors first).
        return {
            "configurationValidationErrors": [m.to_json() for m in self._all],
            "message": self.message,
        }


class BadYamlError(UserError):
    """The file is not a YAML mapping: a syntax error, an empty file, a list or a scalar.

    ``problem`` says what is wrong; ``line`` and ``column`` (1-based) say where, when YAML
    reported a position. ``to_json()`` is pcluster's document with the position appended.
    """

    def __init__(
        self,
        problem: str,
        *,
        line: int | None = None,
        column: int | None = None,
        filename: str = "cluster-config.yaml",
        message: str | None = None,
    ) -> None:
        self.problem = problem
        self.line = line
        self.column = column
        self.filename = filename
        if message is None:
            if line is not None and column is not None:
                text = f"{problem.rstrip('.')} (line {line}, column {column})"
            else:
                text = problem if problem.endswith(".") else problem + "."
            message = f"Bad Request: Configuration must be a valid YAML document. {text}"
        self.message = message
        super().__init__(f"{filename}: {message}")

    def to_json(self) -> dict[str, str]:
        """``{"message": "Bad Request: Configuration must be a valid YAML document. ..."}``."""
        return {"message": self.message}

"""A Batch job's data staging: the ``STRATUS_STAGE_IN`` and ``STRATUS_STAGE_OUT`` variables.

AWS Batch has no staging of its own (jobs copy their data with the AWS CLI); stratus adds it
as an explicit extension that boto3 and the AWS CLI carry unchanged: two environment variables
of the job definition's ``containerProperties.environment`` (or a job's
``containerOverrides.environment``), each a list of entries (:mod:`stratus.staging.spec`:
``PATH=s3://BUCKET/KEY``, separated by commas or newlines), with ``Ref::name`` replaced by the
job's parameters as in the command. So one definition serves many inputs::

    {"name": "STRATUS_STAGE_IN", "value": "input.csv=s3://data/Ref::sample.csv"}

Guarantees: entries are checked at SubmitJob (a ``ClientException`` names the variable and the
entry); a job that stages runs in a fresh working directory of its own on the node (removed when
it ends), which a container job's container sees at the same path as its working directory, so
its paths must be relative there; the transfers' failures become the job's ``statusReason``.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping

from stratus.batch.shapes import BatchClientError
from stratus.staging.spec import STAGE_IN_FAILED, STAGE_OUT_FAILED, StagingSpecError, parse

STAGE_IN = "STRATUS_STAGE_IN"
STAGE_OUT = "STRATUS_STAGE_OUT"
_REF = re.compile(r"Ref::([A-Za-z0-9_-]+)")


def staging(
    env: Mapping[str, str], parameters: Mapping[str, str], *, container: bool
) -> tuple[list[list[str]], list[list[str]]]:
    """The job's (stage-in, stage-out) transfers as ``[path, url]`` lists, checked."""
    out: list[list[list[str]]] = []
    for name in (STAGE_IN, STAGE_OUT):
        text = _REF.sub(lambda m: parameters.get(m.group(1), m.group(0)), env.get(name, ""))
        try:
            transfers = parse(text, stage_in=name == STAGE_IN)
        except StagingSpecError as exc:
            raise BatchClientError(f"containerProperties.environment {name}: {exc}") from None
        for t in transfers:
            if container and posixpath.isabs(t.path):
                raise BatchClientError(
                    f"containerProperties.environment {name}: '{t.path}': a container job's paths are "
                    "relative to its working directory (where its data is staged, the container's "
                    "working directory too)"
                )
        out.append([t.to_list() for t in transfers])
    return out[0], out[1]


def failure_reason(exit_code: int | None) -> str | None:
    """The ``statusReason`` of a staging job that ended with ``exit_code``, if staging failed."""
    if exit_code == STAGE_IN_FAILED:
        return "DataStagingError: stage-in failed; the job's log stream says which object and why"
    if exit_code == STAGE_OUT_FAILED:
        return "DataStagingError: stage-out failed; the job's log stream says which file and why"
    return None

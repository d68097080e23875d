"""What a job stages: transfers between a local path and an S3 URL, and how they are written.

An entry is ``PATH=s3://BUCKET/KEY``: the local path first (relative to the job's working
directory, or absolute), the S3 URL after the first ``=s3://``, so keys may hold ``=`` (as
``year=2024/`` prefixes do). A stage-in entry may be the URL alone: the path is then the key's
last part. A key ending in ``/`` is a prefix: everything under it (stage in) or everything
under the local directory (stage out) is copied. Several entries are separated by newlines or
commas.

Guarantees: :func:`parse` accepts only entries :mod:`stratus.staging.transfer` can carry out
(a bucket name S3 accepts, a key, a path without NUL), and its error names the entry and says
what is wrong, so a front door can refuse a job at submission rather than fail it later.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

#: The exit status of a job whose stage-in failed (its command did not run).
STAGE_IN_FAILED = 121
#: The exit status of a job whose command succeeded but whose stage-out failed.
STAGE_OUT_FAILED = 122
#: How many transfers one direction of a job may have.
MAX_TRANSFERS = 100
#: The most characters an S3 key may have (S3's limit, in bytes of UTF-8).
MAX_KEY_BYTES = 1024

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SCHEME = "s3://"


class StagingSpecError(ValueError):
    """An entry that is not a transfer (the message names it and says what to write)."""


@dataclass(frozen=True, slots=True)
class Transfer:
    """One copy between ``path`` (on the node) and ``s3://bucket/key``."""

    path: str
    bucket: str
    key: str

    @property
    def url(self) -> str:
        return f"{_SCHEME}{self.bucket}/{self.key}"

    @property
    def is_prefix(self) -> bool:
        """Whether the key is a prefix (a "directory" of objects): it is empty or ends in ``/``."""
        return self.key == "" or self.key.endswith("/")

    def to_list(self) -> list[str]:
        return [self.path, self.url]

    @classmethod
    def from_list(cls, item: list[str]) -> Transfer:
        path, url = item
        return _transfer(f"{path}={url}", path, url)


def _transfer(entry: str, path: str, url: str) -> Transfer:
    rest = url[len(_SCHEME) :]
    bucket, _, key = rest.partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise StagingSpecError(
            f"'{entry}': '{bucket}' is not an S3 bucket name (3 to 63 lower-case letters, digits, "
            "dots and hyphens)"
        )
    if len(key.encode("utf-8", "surrogateescape")) > MAX_KEY_BYTES:
        raise StagingSpecError(f"'{entry}': the key is longer than {MAX_KEY_BYTES} bytes")
    if not path:
        raise StagingSpecError(f"'{entry}': no local path before '=s3://'")
    if "\0" in path or "\0" in key:
        raise StagingSpecError(f"'{entry}': a NUL character")
    return Transfer(path, bucket, key)


def parse_entry(entry: str, *, stage_in: bool) -> Transfer:
    """One entry (see the module docstring); ``stage_in`` allows the URL alone."""
    text = entry.strip()
    if text.startswith(_SCHEME):
        if not stage_in:
            raise StagingSpecError(
                f"'{text}': a stage-out entry needs the local path first: PATH=s3://BUCKET/KEY"
            )
        key = text[len(_SCHEME) :].partition("/")[2]
        name = posixpath.basename(key.rstrip("/"))
        if not name:
            raise StagingSpecError(
                f"'{text}': give the local path to copy the bucket into: PATH=s3://BUCKET/"
            )
        return _transfer(text, name + ("/" if key.endswith("/") else ""), text)
    path, sep, rest = text.partition("=" + _SCHEME)
    if not sep:
        raise StagingSpecError(
            f"'{text}': not PATH=s3://BUCKET/KEY" + (" (or s3://BUCKET/KEY)" if stage_in else "")
        )
    return _transfer(text, path.strip(), _SCHEME + rest)


def parse(texts: list[str] | str, *, stage_in: bool) -> list[Transfer]:
    """Every entry of ``texts`` (one string or several; entries split at newlines and commas)."""
    if isinstance(texts, str):
        texts = [texts]
    out: list[Transfer] = []
    for text in texts:
        for entry in re.split(r"[\n,]", text):
            if entry.strip():
                out.append(parse_entry(entry, stage_in=stage_in))
    if len(out) > MAX_TRANSFERS:
        raise StagingSpecError(f"{len(out)} entries: at most {MAX_TRANSFERS} are allowed")
    return out

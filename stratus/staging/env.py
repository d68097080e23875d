"""The S3 endpoint and credentials every job of a cluster sees (``Stratus.S3``).

Guarantees: a job gets ``AWS_ENDPOINT_URL_S3`` (boto3, the AWS CLI and most S3 tools read it),
the region, and the credentials of ``CredentialsFile``'s profile (a file in the AWS CLI's
shared-credentials format, read by the head node only, so it needs to exist nowhere else);
each only where the job's own environment does not already set it, so a user's own key wins.
The file is read again when it changes; one that cannot be read fails the launch with an
error naming it (the job is not started without the credentials the site meant it to have).
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stratus.config.layout import ClusterLayout


class S3SettingsError(Exception):
    """The credentials file cannot be read or lacks the profile (the message names both)."""


@dataclass
class S3Env:
    """The variables of ``Stratus.S3`` (``endpoint_url`` "" when the cluster has none)."""

    endpoint_url: str = ""
    region: str = ""
    credentials_file: str = ""
    profile: str = "default"
    _cache: tuple[float, dict[str, str]] | None = field(default=None, repr=False)

    def _credentials(self) -> dict[str, str]:
        if not self.credentials_file:
            return {}
        try:
            mtime = os.stat(self.credentials_file).st_mtime
        except OSError as exc:
            raise S3SettingsError(
                f"Stratus.S3.CredentialsFile: cannot read {self.credentials_file}: {exc.strerror}"
            ) from None
        if self._cache is not None and self._cache[0] == mtime:
            return self._cache[1]
        parser = configparser.ConfigParser(interpolation=None)
        try:
            with open(self.credentials_file, encoding="utf-8") as f:
                parser.read_file(f)
        except (OSError, configparser.Error, UnicodeDecodeError) as exc:
            raise S3SettingsError(
                f"Stratus.S3.CredentialsFile: cannot read {self.credentials_file}: {exc}"
            ) from None
        if not parser.has_section(self.profile):
            raise S3SettingsError(
                f"Stratus.S3.CredentialsFile: {self.credentials_file} has no [{self.profile}] profile"
            )
        section = parser[self.profile]
        out: dict[str, str] = {}
        for key, var in (
            ("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
            ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
            ("aws_session_token", "AWS_SESSION_TOKEN"),
        ):
            if section.get(key):
                out[var] = section[key].strip()
        if "AWS_ACCESS_KEY_ID" not in out or "AWS_SECRET_ACCESS_KEY" not in out:
            raise S3SettingsError(
                f"Stratus.S3.CredentialsFile: the [{self.profile}] profile of {self.credentials_file} "
                "needs aws_access_key_id and aws_secret_access_key"
            )
        self._cache = (mtime, out)
        return out

    def apply(self, env: dict[str, str]) -> None:
        """Add the cluster's S3 variables to a job's ``env`` where it has none of its own."""
        if not self.endpoint_url:
            return
        env.setdefault("AWS_ENDPOINT_URL_S3", self.endpoint_url)
        if self.region:
            env.setdefault("AWS_DEFAULT_REGION", self.region)
        creds = self._credentials()
        if "AWS_ACCESS_KEY_ID" not in env:
            env.update(creds)


def s3_env(layout: ClusterLayout) -> S3Env:
    """The ``Stratus.S3`` settings of a cluster's layout."""
    return S3Env(
        endpoint_url=layout.s3_endpoint_url,
        region=layout.s3_region,
        credentials_file=layout.s3_credentials_file,
        profile=layout.s3_profile,
    )

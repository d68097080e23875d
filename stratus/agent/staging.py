"""A job's data staging on its node: S3 objects in before its script runs, files out after.

Run by the job's wrapper (see :mod:`stratus.agent.executor`) as a program of its own, as the
job's user, in the job's working directory and with its environment::

    python3 -I staging.py in|out SPEC

``SPEC`` is the JSON file the agent writes for the run (``{"in": [[path, url], ...], "out":
[...]}``; entries validated by the front door that accepted the job, see
:mod:`stratus.staging.spec`). Like the rest of the agent it needs the standard library only,
so any node with ``python3`` can stage, with no SDK installed: it speaks S3's REST API itself
(path-style requests signed with Signature Version 4).

The endpoint is ``AWS_ENDPOINT_URL_S3`` (else ``AWS_ENDPOINT_URL``, else AWS's regional one),
the region ``AWS_REGION``/``AWS_DEFAULT_REGION`` (default us-east-1), the credentials
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN``), else the profile
``AWS_PROFILE`` of ``AWS_SHARED_CREDENTIALS_FILE`` or ``~/.aws/credentials``: what boto3 and the
AWS CLI would use in the same job.

Guarantees:

* Stage-in copies each object, or every object under a prefix (a key ending in ``/``), to its
  path, creating the directories it needs; each file is written under a temporary name and
  renamed when complete. A key that would land outside the entry's directory (``..`` parts) is
  refused. A missing object, or a prefix with no object under it, is an error.
* Stage-out copies each file, or every file under a directory, to its key (a key ending in
  ``/`` takes the file's name); a missing path is an error. One request per file: files over
  5 GiB (S3's limit for a single upload) are refused with a message that says so.
* Every transfer is reported on stderr (the job's output); the first failure stops the
  direction, is reported as ``DataStagingError: ...`` and ends the program with
  :data:`STAGE_IN_FAILED` or :data:`STAGE_OUT_FAILED`, which the front doors turn into the
  job's reason. Network errors and S3's 5xx answers are retried a few times first.
"""

from __future__ import annotations

import configparser
import datetime
import hashlib
import hmac
import http.client
import json
import os
import posixpath
import ssl
import sys
import tempfile
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import IO, Any

#: The exit status of a job whose stage-in failed (its command did not run).
STAGE_IN_FAILED = 121
#: The exit status of a job whose command succeeded but whose stage-out failed.
STAGE_OUT_FAILED = 122
#: S3's largest single upload.
MAX_PUT_BYTES = 5 * 1024**3
_CHUNK = 1 << 20
_ATTEMPTS = 4
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class StagingError(Exception):
    """A transfer that could not be done (the message names the URL and the reason)."""


def _credentials(env: dict[str, str]) -> tuple[str, str, str]:
    key, secret = env.get("AWS_ACCESS_KEY_ID", ""), env.get("AWS_SECRET_ACCESS_KEY", "")
    if key and secret:
        return key, secret, env.get("AWS_SESSION_TOKEN", "")
    path = env.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.expanduser("~/.aws/credentials")
    profile = env.get("AWS_PROFILE", "default")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
        section = parser[profile]
        token = section.get("aws_session_token", "")
        return section["aws_access_key_id"], section["aws_secret_access_key"], token
    except (OSError, KeyError, configparser.Error, UnicodeDecodeError):
        raise StagingError(
            "no S3 credentials: the cluster gives jobs none (Stratus.S3.CredentialsFile) and the job "
            "has no AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        ) from None


class S3:
    """A minimal S3 client: GET/PUT of objects and ListObjectsV2, path-style, SigV4-signed."""

    def __init__(self, env: dict[str, str]) -> None:
        self.region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        endpoint = (
            env.get("AWS_ENDPOINT_URL_S3")
            or env.get("AWS_ENDPOINT_URL")
            or f"https://s3.{self.region}.amazonaws.com"
        )
        url = urllib.parse.urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise StagingError(f"AWS_ENDPOINT_URL_S3: {endpoint} is not an http(s) URL")
        self.endpoint = endpoint
        self.https = url.scheme == "https"
        self.host = url.netloc
        self.base_path = url.path.rstrip("/")
        self.key_id, self.secret, self.token = _credentials(env)
        self.ssl = ssl.create_default_context(cafile=env.get("AWS_CA_BUNDLE") or None) if self.https else None

    # -- requests -------------------------------------------------------------------------------

    def _path(self, bucket: str, key: str = "") -> str:
        return f"{self.base_path}/{urllib.parse.quote(bucket, safe='')}/" + urllib.parse.quote(key, safe="/~")

    def _headers(self, method: str, path: str, query: str, payload_hash: str) -> dict[str, str]:
        now = datetime.datetime.now(datetime.UTC)
        amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        headers = {"host": self.host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
        if self.token:
            headers["x-amz-security-token"] = self.token
        names = sorted(headers)
        canonical = "\n".join(
            [
                method,
                path,
                query,
                "".join(f"{n}:{headers[n].strip()}\n" for n in names),
                ";".join(names),
                payload_hash,
            ]
        )
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        k = hmac.new(("AWS4" + self.secret).encode(), day.encode(), hashlib.sha256).digest()
        for part in (self.region, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.key_id}/{scope}, SignedHeaders={';'.join(names)}, "
            f"Signature={signature}"
        )
        return headers

    def _connection(self) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(self.host, timeout=120, context=self.ssl)
        return http.client.HTTPConnection(self.host, timeout=120)

    def request(
        self,
        method: str,
        bucket: str,
        key: str = "",
        query: list[tuple[str, str]] | None = None,
        body: IO[bytes] | None = None,
        size: int = 0,
        payload_hash: str = _EMPTY_SHA256,
        sink: IO[bytes] | None = None,
    ) -> bytes:
        """One request, retried on network errors and 5xx; the body (or streamed to ``sink``)."""
        # The query as sent is the canonical one: sorted, every name and value percent-encoded.
        qs = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(query or []))
        path = self._path(bucket, key)
        target = path + ("?" + qs if qs else "")
        for attempt in range(_ATTEMPTS):
            headers = self._headers(method, path, qs, payload_hash)
            if body is not None:
                body.seek(0)
                headers["content-length"] = str(size)
            conn = self._connection()
            try:
                conn.request(method, target, body=body, headers=headers)
                answer = conn.getresponse()
                if answer.status >= 500 and attempt + 1 < _ATTEMPTS:
                    answer.read()
                    time.sleep(0.5 * 2**attempt)
                    continue
                if answer.status >= 300:
                    raise StagingError(_error_text(answer.status, answer.read()))
                if sink is None:
                    return answer.read()
                while chunk := answer.read(_CHUNK):
                    sink.write(chunk)
                return b""
            except (OSError, http.client.HTTPException) as exc:
                if attempt + 1 >= _ATTEMPTS:
                    raise StagingError(f"cannot reach {self.endpoint}: {exc}") from None
                if sink is not None:
                    sink.seek(0)
                    sink.truncate()
                time.sleep(0.5 * 2**attempt)
            finally:
                conn.close()
        raise StagingError(f"{self.endpoint} kept failing")  # not reached: the last try raises

    # -- operations -----------------------------------------------------------------------------

    def keys(self, bucket: str, prefix: str) -> Iterator[str]:
        """Every key under ``prefix`` (ListObjectsV2, page by page)."""
        token = ""
        while True:
            query = [("list-type", "2"), ("prefix", prefix)]
            if token:
                query.append(("continuation-token", token))
            root = ET.fromstring(self.request("GET", bucket, "", query))
            ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
            for item in root.iter(f"{ns}Contents"):
                key = item.findtext(f"{ns}Key")
                if key is not None:
                    yield key
            if root.findtext(f"{ns}IsTruncated") != "true":
                return
            token = root.findtext(f"{ns}NextContinuationToken") or ""
            if not token:
                return

    def get(self, bucket: str, key: str, dest: str) -> int:
        """Object ``key`` into file ``dest`` (written whole, then renamed); its size."""
        folder = os.path.dirname(dest) or "."
        fd, tmp = tempfile.mkstemp(prefix=".stage-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                self.request("GET", bucket, key, sink=f)
                size = f.tell()
            os.replace(tmp, dest)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return size

    def put(self, src: str, bucket: str, key: str) -> int:
        """File ``src`` as object ``key``; its size."""
        size = os.path.getsize(src)
        if size > MAX_PUT_BYTES:
            raise StagingError(f"{src} is larger than 5 GiB, the most one upload may carry")
        digest = hashlib.sha256()
        with open(src, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
            self.request("PUT", bucket, key, body=f, size=size, payload_hash=digest.hexdigest())
        return size


def _enc(text: str) -> str:
    return urllib.parse.quote(text, safe="-_.~")


def _error_text(status: int, body: bytes) -> str:
    try:
        root = ET.fromstring(body)
        code, message = root.findtext("Code") or "", root.findtext("Message") or ""
    except ET.ParseError:
        code, message = "", ""
    if status == 404 or code in ("NoSuchKey", "NoSuchBucket"):
        return f"{code or 'NotFound'}: {message or 'no such object'}"
    if status == 403:
        why = f" ({message})" if message else ""
        return f"{code or 'AccessDenied'}: the job's credentials may not do this{why}"
    return f"{code or f'HTTP {status}'}: {message}".rstrip(": ")


def _split(url: str) -> tuple[str, str]:
    rest = url[len("s3://") :] if url.startswith("s3://") else url
    bucket, _, key = rest.partition("/")
    return bucket, key


def _inside(root: str, rel: str) -> str:
    """``root/rel``, refused when ``rel`` climbs out of ``root``."""
    norm = posixpath.normpath(rel)
    if norm == ".." or norm.startswith("../") or posixpath.isabs(norm):
        raise StagingError(f"the key part '{rel}' would be written outside {root}")
    return os.path.join(root, norm)


def stage_in(s3: S3, transfers: list[list[str]], cwd: str) -> None:
    """Copy every ``[path, url]``'s object(s) to its path under ``cwd``."""
    for path, url in transfers:
        bucket, key = _split(url)
        dest = os.path.join(cwd, path)
        try:
            if key == "" or key.endswith("/"):
                keys = [k for k in s3.keys(bucket, key) if not k.endswith("/")]  # not folder markers
                if not keys:
                    raise StagingError("no object under this prefix")
                total = 0
                for k in keys:
                    target = _inside(dest, k[len(key) :])
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    total += s3.get(bucket, k, target)
                _say(f"staged in {url} -> {path} ({len(keys)} objects, {total} bytes)")
            else:
                if path.endswith("/") or os.path.isdir(dest):
                    dest = os.path.join(dest, posixpath.basename(key))
                os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
                size = s3.get(bucket, key, dest)
                _say(f"staged in {url} -> {os.path.relpath(dest, cwd)} ({size} bytes)")
        except (StagingError, OSError) as exc:
            raise StagingError(f"stage-in of {url}: {_text(exc)}") from None


def stage_out(s3: S3, transfers: list[list[str]], cwd: str) -> None:
    """Copy every ``[path, url]``'s file(s) under ``cwd`` to its key."""
    for path, url in transfers:
        bucket, key = _split(url)
        src = os.path.join(cwd, path)
        try:
            if os.path.isdir(src):
                prefix = key if key == "" or key.endswith("/") else key + "/"
                count = total = 0
                for root, dirs, files in os.walk(src):
                    dirs.sort()
                    for name in sorted(files):
                        file = os.path.join(root, name)
                        rel = os.path.relpath(file, src).replace(os.sep, "/")
                        total += s3.put(file, bucket, prefix + rel)
                        count += 1
                _say(f"staged out {path} -> s3://{bucket}/{prefix} ({count} files, {total} bytes)")
            elif os.path.exists(src):
                target = key + os.path.basename(src) if key == "" or key.endswith("/") else key
                size = s3.put(src, bucket, target)
                _say(f"staged out {path} -> s3://{bucket}/{target} ({size} bytes)")
            else:
                raise StagingError("no such file or directory")
        except (StagingError, OSError) as exc:
            raise StagingError(f"stage-out of {path} to {url}: {_text(exc)}") from None


def _text(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)


def _say(line: str) -> None:
    sys.stderr.write(f"stratus: {line}\n")
    sys.stderr.flush()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("in", "out"):
        sys.stderr.write("usage: staging.py in|out SPEC\n")
        return 2
    direction, spec_path = argv
    failed = STAGE_IN_FAILED if direction == "in" else STAGE_OUT_FAILED
    try:
        with open(spec_path, encoding="utf-8") as f:
            spec: dict[str, Any] = json.load(f)
        transfers = [list(map(str, item)) for item in spec.get(direction, [])]
        if not transfers:
            return 0
        s3 = S3(dict(os.environ))
        (stage_in if direction == "in" else stage_out)(s3, transfers, os.getcwd())
    except (StagingError, OSError, ValueError) as exc:
        sys.stderr.write(f"DataStagingError: {_text(exc)}\n")
        sys.stderr.flush()
        return failed
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""SigV4 verification against requests that boto3 itself signed and sent over HTTP."""

from __future__ import annotations

import calendar
import hashlib
import http.server
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from stratus.batch.sigv4 import SIGNATURE_MISMATCH_MESSAGE, Caller, SigV4Error, canonical_request, verify

AKID = "AKIDSTRATUSTEST"
SECRET = "secretSTRATUS/test+key0123456789abcdefgh"
ARN = "arn:aws:batch:us-east-1:123456789012:job-queue/q"


@dataclass(frozen=True)
class Captured:
    method: str
    raw_path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        return next(value for key, value in self.headers if key.lower() == name.lower())

    def with_header(self, name: str, value: str | None) -> Captured:
        """The same request with every ``name`` header replaced by ``value`` (dropped if None)."""
        kept = [(key, old) for key, old in self.headers if key.lower() != name.lower()]
        return replace(self, headers=kept if value is None else [*kept, (name, value)])

    def signed_at(self) -> float:
        """When the client signed: its X-Amz-Date header, or the presigned query's."""
        dates = [v for k, _, v in (p.partition("=") for p in self.query.split("&")) if k == "X-Amz-Date"]
        amz_date = dates[0] if dates else self.header("X-Amz-Date")
        return float(calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")))


def _secrets(key: str) -> str | None:
    return SECRET if key == AKID else None


def _verify(request: Captured, **kwargs: Any) -> Caller:
    return verify(
        request.method, request.raw_path, request.query, request.headers, request.body, _secrets, **kwargs
    )


class _Recorder(http.server.BaseHTTPRequestHandler):
    captured: list[Captured]

    def _capture(self) -> None:
        raw_path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.captured.append(Captured(self.command, raw_path, query, list(self.headers.items()), body))
        answer = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_PUT = do_DELETE = _capture

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[Captured]]]:
    captured: list[Captured] = []
    handler = type("Recorder", (_Recorder,), {"captured": captured})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", captured
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
    assert not thread.is_alive()


def _client(url: str, **kwargs: Any) -> Any:
    return boto3.client(
        "batch",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 1}),
        **kwargs,
    )


CALLS: dict[str, Callable[[Any], object]] = {
    "describe_job_queues": lambda c: c.describe_job_queues(),
    "submit_job_non_ascii": lambda c: c.submit_job(
        jobName="a b", jobQueue="q", jobDefinition="d", parameters={"x": "ü", "y": "a  b\t"}
    ),
    "tag_resource": lambda c: c.tag_resource(resourceArn=ARN, tags={"k": "v"}),
    "untag_resource": lambda c: c.untag_resource(resourceArn=ARN, tagKeys=["b", "a", "a b/ü"]),
    "list_jobs_paged": lambda c: c.list_jobs(jobQueue="q", maxResults=5, nextToken="t+/=ü"),
}


def _send(server: tuple[str, list[Captured]], call: str, prefix: str = "", **kwargs: Any) -> Captured:
    url, captured = server
    before = len(captured)
    CALLS[call](_client(url + prefix, **kwargs))
    assert len(captured) == before + 1
    return captured[-1]


@pytest.fixture(scope="module")
def untag(server: tuple[str, list[Captured]]) -> Captured:
    return _send(server, "untag_resource")


@pytest.fixture(scope="module")
def submit(server: tuple[str, list[Captured]]) -> Captured:
    return _send(server, "submit_job_non_ascii")


@pytest.mark.parametrize("prefix", ["", "/prefix"])
@pytest.mark.parametrize("call", sorted(CALLS))
def test_requests_signed_by_boto3_verify(server: tuple[str, list[Captured]], call: str, prefix: str) -> None:
    request = _send(server, call, prefix)
    assert request.raw_path.startswith(prefix + "/v1/")
    assert _verify(request) == Caller(access_key_id=AKID, region="us-east-1", service="batch")


def test_the_requests_exercise_encoded_paths_repeated_keys_delete_and_utf8_bodies(
    untag: Captured, submit: Captured
) -> None:
    assert untag.method == "DELETE"
    assert untag.raw_path == "/v1/tags/arn%3Aaws%3Abatch%3Aus-east-1%3A123456789012%3Ajob-queue%2Fq"
    assert untag.query.count("tagKeys=") == 3
    assert b"\\u00fc" in submit.body  # botocore's JSON is ASCII: non-ASCII text arrives escaped


def test_a_session_token_is_signed_and_accepted(server: tuple[str, list[Captured]]) -> None:
    request = _send(server, "describe_job_queues", aws_session_token="token/with+chars")
    assert request.header("X-Amz-Security-Token") == "token/with+chars"
    assert _verify(request).access_key_id == AKID


def test_the_canonical_request_is_botocores(
    server: tuple[str, list[Captured]], caplog: pytest.LogCaptureFixture
) -> None:
    """Ours equals the one botocore logs while signing; the encoded path is encoded once more."""
    with caplog.at_level(logging.DEBUG, logger="botocore.auth"):
        request = _send(server, "untag_resource", "/prefix")
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("CanonicalRequest:\n")]
    assert len(logged) == 1
    theirs = logged[0].removeprefix("CanonicalRequest:\n")
    authorization = request.header("Authorization")
    signed_headers = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        headers.setdefault(name.lower(), []).append(value)
    pairs = [(name, value) for name, _, value in (p.partition("=") for p in request.query.split("&"))]
    ours = canonical_request(
        request.method,
        request.raw_path,
        pairs,
        headers,
        signed_headers,
        hashlib.sha256(request.body).hexdigest(),
    )
    assert ours == theirs
    assert theirs.splitlines()[1] == (
        "/prefix/v1/tags/arn%253Aaws%253Abatch%253Aus-east-1%253A123456789012%253Ajob-queue%252Fq"
    )


def test_a_raw_utf8_body_and_untidy_headers_signed_by_botocore_verify(
    server: tuple[str, list[Captured]],
) -> None:
    """Other clients may send UTF-8 JSON unescaped and header values with runs of whitespace."""
    url, captured = server
    body = '{"jobName": "ü ✓", "jobQueue": "q"}'.encode()
    aws_request = AWSRequest(
        method="POST",
        url=f"{url}/v1/submitjob",
        data=body,
        headers={"Content-Type": "application/json", "X-Amz-Meta-Note": "  two   spaces\there  "},
    )
    SigV4Auth(Credentials(AKID, SECRET), "batch", "us-east-1").add_auth(aws_request)
    prepared = aws_request.prepare()
    sent = urllib.request.Request(prepared.url, data=body, headers=dict(prepared.headers), method="POST")
    with urllib.request.urlopen(sent, timeout=10) as answer:
        assert answer.status == 200
    request = captured[-1]
    assert request.body == body
    assert "x-amz-meta-note" in request.header("Authorization")
    assert _verify(request).access_key_id == AKID
    assert _verify(request.with_header("X-Amz-Meta-Note", "two spaces here")).access_key_id == AKID
    with pytest.raises(SigV4Error) as raised:
        _verify(request.with_header("X-Amz-Meta-Note", "two spaces here!"))
    assert raised.value.code == "SignatureDoesNotMatch"


def test_a_presigned_query_verifies(server: tuple[str, list[Captured]]) -> None:
    url, captured = server
    aws_request = AWSRequest(method="GET", url=f"{url}/v1/describejobqueues?b=2&a=1&a=0", headers={})
    SigV4QueryAuth(Credentials(AKID, SECRET), "batch", "us-east-1", expires=60).add_auth(aws_request)
    with urllib.request.urlopen(aws_request.url, timeout=10) as answer:
        assert answer.status == 200
    request = captured[-1]
    assert "X-Amz-Signature=" in request.query
    assert _verify(request).access_key_id == AKID
    later = request.signed_at() + 61
    with pytest.raises(SigV4Error) as raised:
        _verify(request, now=later)
    assert (raised.value.code, raised.value.status) == ("RequestExpired", 400)
    tampered = replace(request, query=request.query.replace("a=1", "a=2"))
    with pytest.raises(SigV4Error) as raised:
        _verify(tampered)
    assert (raised.value.code, raised.value.status) == ("SignatureDoesNotMatch", 403)


def _flip_body(r: Captured) -> Captured:
    return replace(r, body=(r.body[:-1] + b" " + r.body[-1:]) if r.body else b"{}")


def _swap_scope_service(r: Captured) -> Captured:
    return r.with_header("Authorization", r.header("Authorization").replace("/batch/", "/s3/"))


def _truncate_authorization(r: Captured) -> Captured:
    return r.with_header("Authorization", r.header("Authorization").split(", Signature=")[0])


def _unsign_host(r: Captured) -> Captured:
    return r.with_header("Authorization", re.sub(r"\bhost;", "", r.header("Authorization")))


TAMPERINGS: dict[str, tuple[Callable[[Captured], Captured], dict[str, Any], str, int]] = {
    "body_byte_changed": (_flip_body, {}, "SignatureDoesNotMatch", 403),
    "signed_header_changed": (
        lambda r: r.with_header("Host", r.header("Host") + "0"),
        {},
        "SignatureDoesNotMatch",
        403,
    ),
    "signed_header_repeated": (
        lambda r: replace(r, headers=[*r.headers, ("host", "evil.example")]),
        {},
        "SignatureDoesNotMatch",
        403,
    ),
    "query_added": (lambda r: replace(r, query=r.query + "&x=1"), {}, "SignatureDoesNotMatch", 403),
    "method_changed": (lambda r: replace(r, method="PUT"), {}, "SignatureDoesNotMatch", 403),
    "path_changed": (lambda r: replace(r, raw_path=r.raw_path + "x"), {}, "SignatureDoesNotMatch", 403),
    "wrong_secret": (lambda r: r, {"secret_for": lambda key: SECRET + "x"}, "SignatureDoesNotMatch", 403),
    "unknown_key": (lambda r: r, {"secret_for": lambda key: None}, "UnrecognizedClientException", 403),
    "signed_20_minutes_ago": (lambda r: r, {"late_s": 1200.0}, "RequestExpired", 400),
    "signed_20_minutes_ahead": (lambda r: r, {"late_s": -1200.0}, "RequestExpired", 400),
    "authorization_removed": (
        lambda r: r.with_header("Authorization", None),
        {},
        "MissingAuthenticationToken",
        403,
    ),
    "authorization_truncated": (_truncate_authorization, {}, "IncompleteSignature", 400),
    "wrong_algorithm": (
        lambda r: r.with_header(
            "Authorization", r.header("Authorization").replace("HMAC-SHA256", "HMAC-SHA1")
        ),
        {},
        "IncompleteSignature",
        400,
    ),
    "scope_service_s3": (_swap_scope_service, {}, "IncompleteSignature", 400),
    "host_not_signed": (_unsign_host, {}, "IncompleteSignature", 400),
    "date_removed": (lambda r: r.with_header("X-Amz-Date", None), {}, "IncompleteSignature", 400),
    "date_unparseable": (lambda r: r.with_header("X-Amz-Date", "yesterday"), {}, "IncompleteSignature", 400),
    "signed_header_removed": (lambda r: r.with_header("Host", None), {}, "IncompleteSignature", 400),
    "content_sha256_of_other_body": (
        lambda r: _flip_body(r).with_header("X-Amz-Content-SHA256", hashlib.sha256(r.body).hexdigest()),
        {},
        "XAmzContentSHA256Mismatch",
        400,
    ),
    "unsigned_payload": (
        lambda r: r.with_header("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"),
        {},
        "XAmzContentSHA256Mismatch",
        400,
    ),
}


@pytest.mark.parametrize("which", sorted(TAMPERINGS))
@pytest.mark.parametrize("original", ["untag", "submit"])
def test_tampered_requests_are_refused(which: str, original: str, request: pytest.FixtureRequest) -> None:
    signed: Captured = request.getfixturevalue(original)
    tamper, options, code, status = TAMPERINGS[which]
    kwargs: dict[str, Any] = {"now": signed.signed_at() + float(options.get("late_s", 0.0))}
    secret_for = options.get("secret_for", _secrets)
    tampered = tamper(signed)
    with pytest.raises(SigV4Error) as raised:
        verify(
            tampered.method,
            tampered.raw_path,
            tampered.query,
            tampered.headers,
            tampered.body,
            secret_for,
            **kwargs,
        )
    assert (raised.value.code, raised.value.status) == (code, status), raised.value.message
    assert raised.value.message


def test_error_messages_are_awss_and_name_the_problem(untag: Captured) -> None:
    now = untag.signed_at()
    cases: list[tuple[Captured, Callable[[str], str | None], float, str]] = [
        (untag.with_header("Authorization", None), _secrets, now, "Missing Authentication Token"),
        (untag, lambda key: SECRET + "x", now, SIGNATURE_MISMATCH_MESSAGE),
        (untag, lambda key: None, now, "The security token included in the request is invalid."),
        (untag, _secrets, now + 1200, untag.header("X-Amz-Date")),
        (_truncate_authorization(untag), _secrets, now, "'Signature'"),
        (_swap_scope_service(untag), _secrets, now, "'s3'"),
        (_unsign_host(untag), _secrets, now, "'host'"),
    ]
    for tampered, secret_for, at, expected in cases:
        with pytest.raises(SigV4Error) as raised:
            verify(
                tampered.method,
                tampered.raw_path,
                tampered.query,
                tampered.headers,
                tampered.body,
                secret_for,
                now=at,
            )
        assert expected in raised.value.message
    with pytest.raises(SigV4Error, match="Request has expired"):
        _verify(untag, now=now + 1200)


def test_a_request_within_the_skew_verifies(untag: Captured) -> None:
    assert _verify(untag, now=untag.signed_at() + 899).region == "us-east-1"
    assert _verify(untag, now=untag.signed_at() - 899).service == "batch"


def test_another_service_must_be_named(untag: Captured) -> None:
    with pytest.raises(SigV4Error) as raised:
        _verify(untag, service="ecs", now=untag.signed_at())
    assert raised.value.code == "IncompleteSignature"

"""Verification of AWS Signature Version 4 requests, as boto3 and the AWS CLI sign them.

``verify`` accepts a request only if it was signed, within the allowed clock skew, with the
secret of an access key the cluster issued. It reads the request exactly as received (the raw,
percent-encoded path and query, the header pairs, the body bytes) and checks, in this order,
raising ``SigV4Error`` with AWS's error code and HTTP status at the first failure:

1. Presence: an ``Authorization`` header, or else a presigned query (``X-Amz-Algorithm`` ...);
   neither is ``MissingAuthenticationToken`` (403).
2. Form: algorithm ``AWS4-HMAC-SHA256``; ``Credential``, ``SignedHeaders`` and ``Signature`` all
   present; a credential scope ``KEY/YYYYMMDD/REGION/SERVICE/aws4_request`` whose service is the
   one served; ``host`` among the signed headers and every signed header present; a parseable
   ``X-Amz-Date`` whose day is the scope's day. Any failure is ``IncompleteSignature`` (400),
   its message naming what is wrong.
3. Freshness: ``X-Amz-Date`` no more than ``max_skew_s`` away from the server's clock (and, for a
   presigned query, not past ``X-Amz-Expires``); else ``RequestExpired`` (400).
4. Key: the access key is known (``secret_for`` returns its secret); else
   ``UnrecognizedClientException`` (403).
5. Body: an ``X-Amz-Content-SHA256`` header, when sent, is the SHA-256 of the body actually
   received (an unsigned payload is refused); else ``XAmzContentSHA256Mismatch`` (400).
6. Signature: the signature recomputed over the canonical request equals the one sent (compared
   in constant time); else ``SignatureDoesNotMatch`` (403).

The canonical request follows the SigV4 rules for services other than S3, as botocore applies
them: the path has dot segments and repeated slashes removed and is then URI-encoded once more
(so a received ``%3A`` is signed as ``%253A``); query pairs are decoded, re-encoded per RFC 3986
and sorted by name then value; signed headers are lower-cased, their values trimmed with inner
runs of whitespace collapsed, repeated values joined by commas.

The standard library only: nothing here depends on botocore's private signing code.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_PRESIGN_EXPIRES_S = 7 * 24 * 3600

_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_SCOPE_DATE = re.compile(r"\d{8}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

SIGNATURE_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."


class SigV4Error(Exception):
    """A request whose signature cannot be accepted.

    ``code`` is AWS's error code, ``message`` its text, ``status`` the HTTP status to answer with.
    """

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Caller:
    """Who signed an accepted request, and for which region and service."""

    access_key_id: str
    region: str
    service: str


@dataclass(frozen=True)
class _Signed:
    """What the client claims: the parts of its Authorization header or presigned query."""

    access_key_id: str
    scope_date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    expires_s: float | None  # presigned queries only


def _incomplete(message: str) -> SigV4Error:
    return SigV4Error("IncompleteSignature", message, 400)


def verify(
    method: str,
    raw_path: str,
    query: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    secret_for: Callable[[str], str | None],
    *,
    service: str = "batch",
    now: float | None = None,
    max_skew_s: float = 900.0,
) -> Caller:
    """Check a received request's SigV4 signature; return who signed it or raise ``SigV4Error``.

    ``raw_path`` and ``query`` are exactly as received (percent-encoded, keys possibly repeated);
    ``headers`` are the received pairs (names in any case, possibly repeated); ``secret_for``
    maps an access key id to its secret, or to None when the key is unknown.
    """
    header_map = _header_map(headers)
    pairs = _query_pairs(query)
    authorizations = header_map.get("authorization", [])
    if authorizations:
        if len(authorizations) > 1:
            raise _incomplete("The request carries more than one Authorization header.")
        signed = _parse_authorization(authorizations[0], header_map, service)
        signature_param: str | None = None
    elif any(name == "X-Amz-Algorithm" for name, _ in pairs):
        signed = _parse_presigned(pairs, service)
        signature_param = "X-Amz-Signature"
    else:
        raise SigV4Error("MissingAuthenticationToken", "Missing Authentication Token", 403)

    for name in signed.signed_headers:
        if name not in header_map:
            raise _incomplete(f"Signed header '{name}' is not present in the request.")

    _check_freshness(signed, time.time() if now is None else now, max_skew_s)

    secret = secret_for(signed.access_key_id)
    if secret is None:
        raise SigV4Error("UnrecognizedClientException", INVALID_TOKEN_MESSAGE, 403)

    payload_hash = _payload_hash(header_map, body)
    canonical = canonical_request(
        method,
        raw_path,
        [(name, value) for name, value in pairs if name != signature_param],
        header_map,
        signed.signed_headers,
        payload_hash,
    )
    scope = f"{signed.scope_date}/{signed.region}/{signed.service}/{TERMINATOR}"
    string_to_sign = "\n".join(
        [ALGORITHM, signed.amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()]
    )
    key = _signing_key(secret, signed.scope_date, signed.region, signed.service)
    expected = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signed.signature):
        raise SigV4Error("SignatureDoesNotMatch", SIGNATURE_MISMATCH_MESSAGE, 403)
    return Caller(access_key_id=signed.access_key_id, region=signed.region, service=signed.service)


def canonical_request(
    method: str,
    raw_path: str,
    query_pairs: Sequence[tuple[str, str]],
    header_map: dict[str, list[str]],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    """The SigV4 canonical request (non-S3 rules) of a received request.

    ``query_pairs`` are raw (still percent-encoded) name/value pairs; ``header_map`` maps
    lower-cased header names to their received values in order.
    """
    names = sorted(set(signed_headers))
    header_lines = [
        f"{name}:{','.join(' '.join(value.split()) for value in header_map.get(name, []))}" for name in names
    ]
    return "\n".join(
        [
            method.upper(),
            _canonical_uri(raw_path),
            _canonical_query(query_pairs),
            "\n".join(header_lines) + "\n",
            ";".join(names),
            payload_hash,
        ]
    )


def _header_map(headers: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for name, value in headers:
        result.setdefault(name.strip().lower(), []).append(value)
    return result


def _query_pairs(query: str) -> list[tuple[str, str]]:
    """Raw name/value pairs of a query string; names decoded only for recognising auth params."""
    pairs: list[tuple[str, str]] = []
    for piece in query.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        pairs.append((name, value))
    return pairs


def _decoded(text: str) -> str:
    return unquote_to_bytes(text).decode("utf-8", errors="replace")


def _uri_encode(text: str) -> str:
    """RFC 3986 encoding of a raw query component: decode it to bytes, encode all but unreserved."""
    return quote(unquote_to_bytes(text), safe="-_.~")


def _canonical_query(pairs: Sequence[tuple[str, str]]) -> str:
    encoded = sorted((_uri_encode(name), _uri_encode(value)) for name, value in pairs)
    return "&".join(f"{name}={value}" for name, value in encoded)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 dot-segment removal, also dropping empty segments (repeated slashes)."""
    output: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if output:
                output.pop()
        else:
            output.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and output else ""
    return first + "/".join(output) + last


def _canonical_uri(raw_path: str) -> str:
    """The path as received, normalized and URI-encoded once more (non-S3 SigV4 rules)."""
    if not raw_path:
        return "/"
    return quote(_remove_dot_segments(raw_path), safe="/~")


def _split_scope(credential: str, service: str) -> tuple[str, str, str, str]:
    """Access key id, day, region and service of ``KEY/YYYYMMDD/REGION/SERVICE/aws4_request``."""
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts):
        raise _incomplete(
            f"Credential '{credential}' is not of the form "
            f"ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/{TERMINATOR}."
        )
    access_key_id, day, region, scope_service, terminator = parts
    if not _SCOPE_DATE.fullmatch(day):
        raise _incomplete(f"Credential scope date '{day}' is not of the form YYYYMMDD.")
    if terminator != TERMINATOR:
        raise _incomplete(f"Credential scope must end with '{TERMINATOR}', not '{terminator}'.")
    if scope_service != service:
        raise _incomplete(
            f"Credential should be scoped to correct service: '{service}', not '{scope_service}'."
        )
    return access_key_id, day, region, scope_service


def _split_signed_headers(text: str) -> tuple[str, ...]:
    names = tuple(name.strip().lower() for name in text.split(";"))
    if not all(names):
        raise _incomplete(f"SignedHeaders '{text}' has an empty header name.")
    if "host" not in names:
        raise _incomplete("The 'host' header must be among the SignedHeaders.")
    return names


def _checked_signature(text: str) -> str:
    if not _SIGNATURE.fullmatch(text):
        raise _incomplete("Signature must be 64 lower-case hexadecimal characters.")
    return text


def _checked_amz_date(amz_date: str | None, day: str) -> str:
    if amz_date is None:
        raise _incomplete("The request has no 'X-Amz-Date' header; a signed request must carry one.")
    if not _AMZ_DATE.fullmatch(amz_date) or _epoch(amz_date) is None:
        raise _incomplete(f"X-Amz-Date '{amz_date}' is not of the form YYYYMMDDTHHMMSSZ.")
    if amz_date[:8] != day:
        raise _incomplete(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{day}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    return amz_date


def _parse_authorization(value: str, header_map: dict[str, list[str]], service: str) -> _Signed:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(f"Unsupported signature algorithm '{algorithm}': only {ALGORITHM} is accepted.")
    fields: dict[str, str] = {}
    for component in rest.split(","):
        name, sep, field = component.strip().partition("=")
        if sep:
            fields[name.strip()] = field.strip()
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if name not in fields]
    if missing:
        raise _incomplete(
            "Authorization header requires "
            + ", ".join(f"'{name}'" for name in missing)
            + f" parameter{'s' if len(missing) > 1 else ''}. Authorization={value}"
        )
    access_key_id, day, region, scope_service = _split_scope(fields["Credential"], service)
    signed_headers = _split_signed_headers(fields["SignedHeaders"])
    signature = _checked_signature(fields["Signature"])
    dates = header_map.get("x-amz-date", [])
    if len(dates) > 1:
        raise _incomplete("The request carries more than one X-Amz-Date header.")
    amz_date = _checked_amz_date(dates[0].strip() if dates else None, day)
    return _Signed(access_key_id, day, region, scope_service, signed_headers, signature, amz_date, None)


def _parse_presigned(pairs: Sequence[tuple[str, str]], service: str) -> _Signed:
    params: dict[str, str] = {}
    for name, value in pairs:
        if name.startswith("X-Amz-"):
            if name in params:
                raise _incomplete(f"Query parameter '{name}' appears more than once.")
            params[name] = _decoded(value)
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise _incomplete(
            f"Unsupported signature algorithm '{params['X-Amz-Algorithm']}': only {ALGORITHM} is accepted."
        )
    required = ("X-Amz-Credential", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Date", "X-Amz-Expires")
    missing = [name for name in required if name not in params]
    if missing:
        raise _incomplete(
            "Presigned query requires " + ", ".join(f"'{name}'" for name in missing) + " parameters."
        )
    access_key_id, day, region, scope_service = _split_scope(params["X-Amz-Credential"], service)
    signed_headers = _split_signed_headers(params["X-Amz-SignedHeaders"])
    signature = _checked_signature(params["X-Amz-Signature"])
    amz_date = _checked_amz_date(params["X-Amz-Date"], day)
    expires = params["X-Amz-Expires"]
    if not expires.isdigit() or not 0 < int(expires) <= MAX_PRESIGN_EXPIRES_S:
        raise _incomplete(
            f"X-Amz-Expires '{expires}' must be a whole number of seconds from 1 to {MAX_PRESIGN_EXPIRES_S}."
        )
    return _Signed(
        access_key_id, day, region, scope_service, signed_headers, signature, amz_date, float(expires)
    )


def _epoch(amz_date: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")))
    except ValueError:
        return None


def _format(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def _check_freshness(signed: _Signed, now: float, max_skew_s: float) -> None:
    signed_at = _epoch(signed.amz_date)
    assert signed_at is not None  # checked when parsed
    if abs(now - signed_at) > max_skew_s:
        raise SigV4Error(
            "RequestExpired",
            f"Request has expired: it was signed at {signed.amz_date}, more than {max_skew_s:g} seconds "
            f"from the server's time {_format(now)}. Check the client's clock.",
            400,
        )
    if signed.expires_s is not None and now > signed_at + signed.expires_s:
        raise SigV4Error(
            "RequestExpired",
            f"Request has expired: signed at {signed.amz_date} for {signed.expires_s:g} seconds, "
            f"the server's time is {_format(now)}.",
            400,
        )


def _payload_hash(header_map: dict[str, list[str]], body: bytes) -> str:
    """The body's hex SHA-256, which a sent ``X-Amz-Content-SHA256`` header must equal."""
    actual = hashlib.sha256(body).hexdigest()
    claimed = header_map.get("x-amz-content-sha256")
    if claimed is None:
        return actual
    value = claimed[0].strip() if len(claimed) == 1 else ""
    if value == UNSIGNED_PAYLOAD or not _SHA256_HEX.fullmatch(value):
        raise SigV4Error(
            "XAmzContentSHA256Mismatch",
            "The 'x-amz-content-sha256' header must be the hex SHA-256 of the body; "
            "unsigned or streaming payloads are not accepted.",
            400,
        )
    if not hmac.compare_digest(value, actual):
        raise SigV4Error(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            400,
        )
    return value


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def _signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret).encode("utf-8"), day)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, TERMINATOR)

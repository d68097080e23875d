"""The Batch endpoint: rest-json as botocore speaks it, SigV4 as AWS checks it.

One ASGI app per cluster, served on a port of its own (``Stratus.BatchApi``):

* Every request is verified first (:func:`stratus.batch.sigv4.verify`) against the access keys
  the cluster issued (``stratus batch-credentials``); the key names the caller, an OS user of the
  head node, and nothing in the request can claim another. A request that fails gets AWS's
  error (``MissingAuthenticationToken``, ``SignatureDoesNotMatch`` ...) and does nothing.
* Operations are ``POST <prefix>/v1/<operation in lower case>`` with a JSON body (any path
  prefix of the endpoint URL is accepted, as botocore keeps it); the body is validated by
  :mod:`stratus.batch.shapes` and served by :class:`stratus.batch.door.BatchDoor`.
* The tag operations are routed by method on ``<prefix>/v1/tags/<resourceArn>``, the ARN
  percent-encoded in the raw path (decoded here, ``%2F`` included): ``POST`` TagResource (body
  ``{"tags"}``), ``DELETE`` UntagResource (``?tagKeys=a&tagKeys=b``), ``GET``
  ListTagsForResource (:mod:`stratus.batch.tags`).
* CloudWatch Logs' ``GetLogEvents``, ``DescribeLogStreams`` and ``FilterLogEvents``
  (``POST /`` with ``X-Amz-Target: Logs_20140328.<operation>``, signed for the ``logs``
  service) read the jobs' output (:mod:`stratus.batch.logs`).
* Errors are answered as botocore parses them: the ``x-amzn-ErrorType`` header and a body
  ``{"__type": ..., "message": ...}``; ``ClientException`` (400) for what the caller can fix,
  ``ServerException`` (500, logged) for anything else; every answer has an ``x-amzn-RequestId``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.batch.door import BatchDoor
from stratus.batch.logs import BatchLogs, LogsError
from stratus.batch.shapes import BatchClientError, parse
from stratus.batch.sigv4 import SigV4Error, verify
from stratus.service.model import Identity

log = logging.getLogger("stratus.batch")

#: The largest request body accepted (AWS limits SubmitJob to 30 KiB, definitions to 24 KiB).
MAX_BODY_BYTES = 1024 * 1024

#: The tag operations by HTTP method on ``/v1/tags/<resourceArn>``.
_TAG_METHODS = {"POST": "TagResource", "DELETE": "UntagResource", "GET": "ListTagsForResource"}


def _answer(status: int, body: dict[str, Any], request_id: str, error: str = "") -> Response:
    headers = {"x-amzn-RequestId": request_id}
    if error:
        headers["x-amzn-ErrorType"] = error
        body = {"__type": error, **body}
    return Response(json.dumps(body), status_code=status, headers=headers, media_type="application/json")


#: The X-Amz-Target prefix of CloudWatch Logs' operations.
LOGS_TARGET = "Logs_20140328."


def _logs(
    operations: dict[str, Callable[[dict[str, Any], Identity], dict[str, Any]]],
    name: str,
    body: bytes,
    identity: Identity,
    request_id: str,
) -> Response:
    """A CloudWatch Logs operation (its errors: HTTP 400 with the error type)."""
    handler = operations.get(name)
    if handler is None:
        return _answer(400, {"message": f"Operation {name} is not supported by this endpoint"}, request_id,
                       "UnknownOperationException")  # fmt: skip
    try:
        decoded = json.loads(body or b"{}")
        if not isinstance(decoded, dict):
            raise ValueError("not an object")
    except (ValueError, RecursionError):
        return _answer(
            400, {"message": "The request body is not a JSON object"}, request_id, "SerializationException"
        )
    try:
        return _answer(200, handler(decoded, identity), request_id)
    except LogsError as exc:
        return _answer(400, {"message": exc.message}, request_id, exc.code)
    except Exception:
        log.exception("%s failed (request %s)", name, request_id)
        return _answer(
            500,
            {"message": f"Internal error (request {request_id})"},
            request_id,
            "ServiceUnavailableException",
        )


def create_batch_app(
    door: BatchDoor,
    secret_for: Callable[[str], str | None],
    identity_for: Callable[[str], Identity | None],
) -> Starlette:
    """The Batch endpoint of ``door``'s cluster. ``secret_for`` gives an access key's secret,
    ``identity_for`` the user it was issued to (None for keys the cluster does not know)."""
    operations = door.operations()
    by_path = {name.lower(): name for name in operations}
    tag_operations = door.tagging.operations()
    logs = BatchLogs(door.log_dir, door.definition_of).operations()

    async def handle(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _answer(413, {"message": "Request body too large"}, request_id, "ClientException")
        scope = request.scope
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        # CloudWatch Logs' requests (JSON 1.1: the operation in X-Amz-Target) are signed for "logs".
        target = request.headers.get("x-amz-target", "")
        service = "logs" if target.startswith(LOGS_TARGET) else "batch"
        try:
            caller = verify(request.method, raw_path, query, headers, body, secret_for, service=service)
        except SigV4Error as exc:
            return _answer(exc.status, {"message": exc.message}, request_id, exc.code)
        identity = identity_for(caller.access_key_id)
        if identity is None:  # revoked between the two lookups
            return _answer(403, {"message": "The security token included in the request is invalid."},
                           request_id, "UnrecognizedClientException")  # fmt: skip
        if service == "logs":
            return _logs(logs, target[len(LOGS_TARGET) :], body, identity, request_id)
        path = raw_path.split("?", 1)[0]
        tag_marker = path.find("/v1/tags/")
        if tag_marker >= 0:
            operation = _TAG_METHODS.get(request.method)
        else:
            marker = path.rfind("/v1/")
            operation = by_path.get(path[marker + 4 :].lower()) if marker >= 0 else None
            if request.method != "POST":
                operation = None
        if operation is None:
            return _answer(404, {"message": f"Unknown operation {request.method} {path}"}, request_id,
                           "UnknownOperationException")  # fmt: skip
        try:
            decoded = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            return _answer(
                400, {"message": "The request body is not valid JSON"}, request_id, "ClientException"
            )
        if tag_marker >= 0:
            if not isinstance(decoded, dict):
                return _answer(400, {"message": "The request body must be a JSON object"}, request_id,
                               "ClientException")  # fmt: skip
            decoded = {**decoded, "resourceArn": unquote(path[tag_marker + len("/v1/tags/") :])}
            if operation == "UntagResource":
                pairs = parse_qsl(query, keep_blank_values=True)
                decoded["tagKeys"] = [value for key, value in pairs if key == "tagKeys"]
            model, handler = tag_operations[operation]
        else:
            model, handler = operations[operation]
        try:
            answer = handler(parse(model, decoded), identity)
        except BatchClientError as exc:
            return _answer(400, {"message": exc.message}, request_id, "ClientException")
        except Exception:
            log.exception("%s failed (request %s)", operation, request_id)
            return _answer(
                500, {"message": f"Internal error (request {request_id})"}, request_id, "ServerException"
            )
        return _answer(200, answer, request_id)

    return Starlette(routes=[Route("/{path:path}", handle, methods=["GET", "POST", "PUT", "DELETE"])])

"""The node plane's messages: every field checked on the way in, nothing else reaches the code."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratus.agent.protocol import (
    MESSAGES,
    Ack,
    Finished,
    Hello,
    Kill,
    Launch,
    ProtocolError,
    RunRef,
    Step,
    Task,
    Unknown,
    decode,
    encode,
    secret_digest,
)


def test_every_message_round_trips() -> None:
    samples = [
        Hello(
            "q-st-c-1", "i-0123", "s" * 64, join="j", running=[RunRef(3, 1, 99)], finished=[Finished(2, 0)]
        ),
        Launch(
            7, 0, "q-st-c-1", "#!/bin/sh\necho \udcff\n", "/tmp", "/tmp/o", env={"A": "b"}, mem_limit_mb=5
        ),
        Step(7, 0, 1, ["hostname"], "/", "127.0.0.1", 4242, "t", tasks=[Task(0, {"SLURM_PROCID": "0"})]),
        Kill(7, 0, "TIMEOUT", "TERM"),
        Ack(7, 0),
    ]
    for msg in samples:
        assert decode(encode(msg)) == msg
    assert set(MESSAGES) >= {m.type for m in samples}


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b"[1, 2]",
        b'{"no": "type"}',
        b'{"type": 5}',
        b'{"type": "kill", "job_id": "7", "run": 0}',  # a string where an integer belongs
        b'{"type": "kill", "job_id": true, "run": 0}',  # a bool is not an integer
        b'{"type": "ack", "job_id": 1}',  # a required field missing
        b'{"type": "launch", "job_id": 1, "run": 0, "node": "n", "script": "s", "cwd": "/", '
        b'"stdout": "o", "env": {"A": 1}}',  # a non-string environment value
        b'{"type": "hello", "node": "n", "instance_id": "i", "secret": "s", "running": [{"job_id": 1}]}',
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,  # deeper than the JSON parser goes
    ],
)
def test_malformed_lines_are_refused(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode(line)


def test_a_message_from_a_newer_peer_is_unknown_not_an_error() -> None:
    assert decode(b'{"type": "resize", "x": 1}') == Unknown(name="resize")
    # Extra fields of a known message are ignored.
    assert decode(b'{"type": "ack", "job_id": 1, "run": 2, "later": [1]}') == Ack(1, 2)


@settings(derandomize=True, database=None)
@given(st.dictionaries(st.text(max_size=8), st.recursive(st.none() | st.integers() | st.text(), st.lists)))
def test_decode_never_fails_otherwise(obj: dict[str, object]) -> None:
    obj["type"] = "finished"
    try:
        msg = decode(json.dumps(obj).encode())
    except ProtocolError:
        return
    assert isinstance(msg, Finished)
    assert isinstance(msg.job_id, int) and isinstance(msg.usage, dict)


def test_secret_digest_is_stable_and_one_way() -> None:
    assert secret_digest("abc") == secret_digest("abc")
    assert secret_digest("abc") != secret_digest("abd")
    assert "abc" not in secret_digest("abc")

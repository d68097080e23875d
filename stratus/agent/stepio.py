"""The stream between srun and the agents running a job step's tasks: one JSON object per line.

Each agent of the step dials srun's I/O address (given in the step's launch) and sends
``hello {token, node}``; srun checks the token. Then, by sender:

agent -> srun
    ready {node}                       the tasks here started: stdin may be sent now
    out / err {procid, data}           a chunk of a task's stdout / stderr (text, surrogate-escaped)
    exit {procid, code, signal}        a task ended
srun -> agent
    in {procid?, data}                 stdin for one task (or all of them)
    eof {procid?}                      end of stdin
    signal {signal}                    signal every task here
    winch {rows, cols}                 the terminal's size changed (``srun --pty``)

srun going away kills the step's tasks, as Slurm kills them.
"""

from __future__ import annotations

import json
from typing import Any

MAX_LINE = 64 * 1024 * 1024


def encode(frame: dict[str, Any]) -> bytes:
    return json.dumps(frame, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """A frame from one line; ValueError if it is not a JSON object with a ``type``."""
    frame = json.loads(line)
    if not isinstance(frame, dict) or "type" not in frame:
        raise ValueError("not a step I/O frame")
    return frame

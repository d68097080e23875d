"""The wire protocol between the controller and node agents: one JSON object per line over TCP.

The agent connects to the controller (agents may sit behind NAT; the controller never dials
out) and opens with ``hello``. Messages, by sender:

agent -> controller
    hello     {node, instance_id, token, pid, running: [{job_id, run, pid}], finished: [Finished]}
    started   {job_id, run, pid}
    finished  {job_id, run, exit_code, signal, end_time, oom, error, usage}
    heartbeat {}
controller -> agent
    welcome   {}                         the hello was accepted
    reject    {reason}                   wrong token or instance: the agent stops for good
    launch    {job_id, run, script, args, env, cwd, stdout, stderr, stdin, open_mode, node}
    kill      {job_id, run, why, signal} why: CANCELLED | TIMEOUT | NODE_FAIL | END
    ack       {job_id, run}              a ``finished`` report is stored; the agent forgets it
    shutdown  {}                         power down: stop every job and exit

Delivery guarantees: a ``finished`` report is repeated (in the next ``hello``) until acked, so a
controller crash between the job's exit and the write of its end loses nothing; the controller
ignores reports for a run it no longer expects, so a repeat never ends a newer run.
"""

from __future__ import annotations

import json
from typing import Any

MAX_LINE = 64 * 1024 * 1024  # a launch carries the script and its environment


def encode(msg: dict[str, Any]) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    msg = json.loads(line)
    if not isinstance(msg, dict) or "type" not in msg:
        raise ValueError("not a protocol message")
    return msg

"""Network addresses: the one place that says where a head node listens and is reached.

Today every part of a cluster runs on one machine, so the head node listens on the loopback
address only (nothing outside this machine can reach its API or its agent port) and nodes
report it as their address. Serving nodes on other machines starts here: a configured address
replaces these defaults, not literals spread through the code.

Imported by the node agent and the thin clients: the standard library only.
"""

from __future__ import annotations

LOOPBACK = "127.0.0.1"
HEAD_ADDRESS = LOOPBACK  # where the head node's API and agent port listen, and are reached
LOCAL_NODE_ADDRESS = LOOPBACK  # the address of a node the local provider runs on this machine

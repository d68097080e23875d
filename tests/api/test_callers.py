"""Who the API takes a caller for: the kernel's word on the unix socket, the token's over TCP."""

from __future__ import annotations

import os
import socket
from typing import Any

from stratus.api.callers import PEER, Authenticate, peer_credentials
from stratus.service.model import Identity

TOKEN = "t0k"


def _auth(owner_uid: int) -> Authenticate:
    return Authenticate(app=None, token=TOKEN, owner_uid=owner_uid, owner_gid=owner_uid)


def _scope(path: str, peer: tuple[int, int, int] | None = None, token: str | None = None) -> dict[str, Any]:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    scope: dict[str, Any] = {"type": "http", "path": path, "headers": headers}
    if peer is not None:
        scope[PEER] = peer
    return scope


def test_the_kernel_names_a_socket_caller_whatever_the_request_says() -> None:
    shared = _auth(owner_uid=0)  # a head node run by root serves every local user
    alice = shared.caller(_scope("/slurm/v1/sbatch", peer=(10, 1001, 1001), token="wrong"))
    assert isinstance(alice, Identity) and (alice.uid, alice.gid, alice.is_admin) == (1001, 1001, False)
    root = shared.caller(_scope("/v3/clusters/c", peer=(11, 0, 0)))
    assert isinstance(root, Identity) and root.is_admin
    # Users reach the Slurm routes only; the cluster's API is its administrators'.
    assert shared.caller(_scope("/v3/clusters/c", peer=(10, 1001, 1001))) == (
        403,
        "Forbidden: only the cluster's administrators may use this API",
    )


def test_a_head_node_run_by_a_user_serves_that_user_alone() -> None:
    laptop = _auth(owner_uid=1001)
    owner = laptop.caller(_scope("/v3/clusters/c", peer=(10, 1001, 1001)))
    assert isinstance(owner, Identity) and owner.is_admin  # the owner administers their cluster
    status, message = laptop.caller(_scope("/slurm/v1/squeue", peer=(12, 1002, 1002)))  # type: ignore[misc]
    assert status == 403 and "serves only that user" in message


def test_the_token_is_the_owners_credential_over_tcp() -> None:
    laptop = _auth(owner_uid=1001)
    owner = laptop.caller(_scope("/v3/clusters/c", token=TOKEN))
    assert isinstance(owner, Identity) and (owner.uid, owner.is_admin) == (1001, True)
    for token in (None, "wrong", TOKEN + "x"):
        assert laptop.caller(_scope("/slurm/v1/squeue", token=token)) == (
            401,
            "Unauthorized: a valid token is required",
        )


def test_peer_credentials_come_from_the_kernel() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert peer_credentials(a) == (os.getpid(), os.getuid(), os.getgid())
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with tcp:
        assert peer_credentials(tcp) is None  # a TCP caller must present the token

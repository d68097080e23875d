"""Access keys of the Batch endpoint: issued by the cluster to its OS users.

A key is a pair (access key id ``AKIA...``, secret), stored durably by the service as one of
the door's objects, with the uid and gid of the user it was issued to. One key per user: asking
again returns the same key. The secret is kept (SigV4 needs it to recompute signatures) in the
cluster's state store, which only the head node's user can read. A request signed with a key acts
as that user: the cluster's administrators (root, its owner) act on every job, others on their
own.
"""

from __future__ import annotations

import secrets
import string

from stratus.service.interface import Service
from stratus.service.model import Identity, identity_of

DOOR = "batch"
KIND_KEY = "access-key"
_ID_CHARS = string.ascii_uppercase + string.digits


class AccessKeys:
    """The cluster's Batch access keys (see the module docstring)."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def issue(self, who: Identity) -> tuple[str, str]:
        """``who``'s key (access key id, secret): the one issued before, else a new one."""
        for obj in self.service.objects(DOOR, KIND_KEY):
            if obj.body.get("uid") == who.uid:
                return obj.key, str(obj.body["secret"])
        key_id = "AKIA" + "".join(secrets.choice(_ID_CHARS) for _ in range(16))
        secret = secrets.token_urlsafe(30)[:40]
        self.service.put_object(DOOR, KIND_KEY, key_id, {"secret": secret, "uid": who.uid, "gid": who.gid})
        return key_id, secret

    def secret_for(self, key_id: str) -> str | None:
        obj = self.service.get_object(DOOR, KIND_KEY, key_id)
        return None if obj is None else str(obj.body["secret"])

    def identity_for(self, key_id: str) -> Identity | None:
        obj = self.service.get_object(DOOR, KIND_KEY, key_id)
        if obj is None:
            return None
        uid, gid = int(obj.body["uid"]), int(obj.body["gid"])
        return identity_of(uid, gid, admin=uid == 0 or uid == self.service.owner().uid)

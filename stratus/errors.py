"""The root of stratus's exception hierarchy.

Two families matter to a user and are kept apart everywhere:

* ``UserError``: the request is invalid (a bad config key, an unknown job id, an impossible
  resource request). Retrying the same request will fail the same way; the message names the
  field, option, file:line or job and says what to do.
* ``BackendError``: the request may be fine but something on our side failed (the head node is
  not running, a node could not be launched). Retrying later may succeed.
"""

from __future__ import annotations


class StratusError(Exception):
    """Base class of every error stratus raises on purpose."""


class UserError(StratusError):
    """The request is invalid; nothing was changed."""


class NotFoundError(UserError):
    """A named thing (cluster, job, node, partition) does not exist."""


class ConflictError(UserError):
    """The request conflicts with the current state (for example, the cluster already exists)."""


class BackendError(StratusError):
    """Something on stratus's side failed; the request may succeed if retried."""

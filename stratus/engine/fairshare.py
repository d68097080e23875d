"""Fair share: who has used how much of the cluster lately, and the factor that evens it out.

Usage is CPU-seconds, decayed as Slurm decays it with ``PriorityDecayHalfLife`` (a per-second
factor ``1 - 0.693 / half-life``): a CPU-second used one half-life ago counts about half. The
association tree is Slurm's: ``root`` has users who submit without ``--account`` and accounts as
children, each account has its users, and every association has one raw share, so siblings
share their parent equally, except accounts given a weight (:meth:`FairShare.set_weights`, AWS
Batch's ``weightFactor``): an account of weight ``w`` has ``1 / w`` raw shares, so an account of
weight 0.5 is entitled to twice the share of an unweighted sibling.

The factor is Slurm's classic fair-share formula (``PriorityFlags=NO_FAIR_TREE``)::

    FairShare = 2 ** (-EffectvUsage / NormShares)

``NormShares`` is the association's fraction of the cluster (its share of its parent's share,
down from root). ``Usage`` is its usage over root's (at most 1). A direct child of root has
``EffectvUsage = Usage``; below, an account's usage is passed down to its users in proportion to
their shares::

    EffectvUsage(user) = Usage(user) + (EffectvUsage(account) - Usage(user)) * RawShares(user) / LevelShares

So a user who has used exactly their share gets 0.5, one who used nothing 1.0, and a heavy user
tends to 0. Pure: time is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

ROOT = "root"


@dataclass(slots=True)
class Association:
    """One node of the tree: ``root``, an account, or a user under an account (or root)."""

    account: str
    user: str | None  # None: the account itself
    usage: float = 0.0  # decayed CPU-seconds, divided by FairShare.scale
    raw_shares: float = 1  # 1, or 1 / weight for a weighted account


@dataclass(frozen=True, slots=True)
class ShareRow:
    """What ``sshare`` shows for one association (``depth``: 0 for root, 1 below it ...)."""

    account: str  # the account itself, or for a user row the account it is under
    user: str | None
    depth: int
    raw_shares: int | None  # None for root; whole shares, at least 1 (norm_shares is exact)
    norm_shares: float
    raw_usage: float
    norm_usage: float | None  # None for root (Slurm never sets it)
    effective_usage: float
    fairshare: float


class FairShare:
    """Usage per association, decayed as time passes, and each user's fair-share factor."""

    def __init__(self, half_life_s: float, now: float = 0.0) -> None:
        self.half_life_s = half_life_s
        self.time = now
        # Decay is one factor for everybody, so it is kept aside: stored usages times ``scale``
        # are the real ones, and a charge costs the same however many users there are.
        self.scale = 1.0
        self.root = Association(ROOT, None)
        self.accounts: dict[str, Association] = {}
        self.users: dict[tuple[str, str], Association] = {}
        self._weights: dict[str, float] = {}  # account, or prefix ending in "*" -> weight

    @staticmethod
    def account_of(account: str, user: str) -> str:
        """The account a job of ``user`` is charged to: its ``--account``, else root itself."""
        return account or ROOT

    def association(self, account: str, user: str) -> Association:
        """The (account, user) association, created on first use."""
        account = self.account_of(account, user)
        key = (account, user)
        assoc = self.users.get(key)
        if assoc is None:
            if account != ROOT and account not in self.accounts:
                self.accounts[account] = Association(account, None, raw_shares=self._raw_shares(account))
            assoc = self.users[key] = Association(account, user)
        return assoc

    def set_weights(self, weights: Mapping[str, float]) -> None:
        """Weigh accounts: ``weights`` maps an account name, or a prefix of names ending in
        ``*``, to a weight ``w > 0``; a weighted account has ``1 / w`` raw shares, the others 1.
        An account's own name wins over prefixes, a longer prefix over a shorter one. Replaces
        the previous weights, for the accounts that exist and those created later; usage is
        unchanged."""
        self._weights = {name: float(w) for name, w in weights.items() if w > 0}
        for a in self.accounts.values():
            a.raw_shares = self._raw_shares(a.account)

    def _raw_shares(self, account: str) -> float:
        weight = self._weights.get(account)
        if weight is None:
            longest = -1
            for pattern, w in self._weights.items():
                if pattern.endswith("*") and account.startswith(pattern[:-1]) and len(pattern) > longest:
                    longest, weight = len(pattern), w
        return 1.0 / weight if weight else 1

    def decay_to(self, now: float) -> None:
        """Age every usage to ``now``."""
        dt = now - self.time
        if dt <= 0:
            return
        self.time = now
        if self.half_life_s <= 0:
            return
        k = math.pow(1.0 - 0.693 / self.half_life_s, dt) if self.half_life_s > 0.693 else 0.0
        self.scale *= k
        if self.scale < 1e-200:
            self._rebase()

    def _rebase(self) -> None:
        scale = self.scale
        for a in (self.root, *self.accounts.values(), *self.users.values()):
            a.usage *= scale
        self.scale = 1.0

    def usage(self, a: Association) -> float:
        """The decayed usage (CPU-seconds) of an association, as of the last decay."""
        return a.usage * self.scale

    def charge(self, account: str, user: str, cpu_seconds: float, now: float) -> None:
        """Add usage (CPU-seconds used up to ``now``) to a user, their account and root."""
        if cpu_seconds <= 0:
            return
        self.decay_to(now)
        self._add(self.association(account, user), cpu_seconds)

    def _add(self, assoc: Association, amount: float) -> None:
        if self.scale <= 0:
            self._rebase()
        stored = amount / self.scale
        assoc.usage += stored
        if assoc.account != ROOT:
            self.accounts[assoc.account].usage += stored
        self.root.usage += stored

    def charge_past(self, account: str, user: str, cpus: int, start: float, end: float, now: float) -> None:
        """Charge a run that used ``cpus`` from ``start`` to ``end``, decayed as if live.

        Used to rebuild usage from accounting records after a restart: the integral of the
        decayed usage over the run, rather than all of it at its end.
        """
        if end <= start or cpus <= 0:
            return
        h = self.half_life_s
        if h <= 0:
            amount = cpus * (end - start)
        else:
            lam = -math.log(1.0 - 0.693 / h) if h > 0.693 else math.inf
            if lam == math.inf:
                return
            amount = cpus / lam * (math.exp(-lam * (now - end)) - math.exp(-lam * (now - start)))
        self.decay_to(now)
        self._add(self.association(account, user), amount)

    # -- the tree -----------------------------------------------------------------------------

    def _norm_usage(self, a: Association) -> float:
        total = self.root.usage
        return min(a.usage / total, 1.0) if total > 0 else 0.0

    def factor(self, account: str, user: str) -> float:
        """The classic fair-share factor of ``user`` charging ``account`` (0 to 1)."""
        self.association(account, user)
        return self.factors()[(self.account_of(account, user), user)]

    def factors(self) -> dict[tuple[str, str], float]:
        """Every user association's fair-share factor, by (account, user)."""
        return {(r.account, r.user): r.fairshare for r in self.rows() if r.user is not None}

    def rows(self) -> list[ShareRow]:
        """Every association in Slurm's order (``sshare -a``): root, then depth first, the users
        of each level before its accounts, each sorted by name."""
        out = [ShareRow(ROOT, None, 0, None, 1.0, self.usage(self.root), None, 1.0, calc_factor(1.0, 1.0))]
        by_account: dict[str, list[Association]] = {}
        for u in self.users.values():
            by_account.setdefault(u.account, []).append(u)
        top_users = sorted(by_account.get(ROOT, ()), key=_user_key)
        accounts = sorted(self.accounts.values(), key=lambda a: a.account)
        level = sum(a.raw_shares for a in top_users) + sum(a.raw_shares for a in accounts)
        for u in top_users:
            norm = u.raw_shares / level
            usage = self._norm_usage(u)
            out.append(self._row(u, 1, norm, usage, usage))
        for a in accounts:
            norm = a.raw_shares / level
            eff = self._norm_usage(a)
            out.append(self._row(a, 1, norm, eff, eff))
            users = sorted(by_account.get(a.account, ()), key=_user_key)
            shares = sum(u.raw_shares for u in users)
            for u in users:
                usage = self._norm_usage(u)
                u_eff = usage + (eff - usage) * u.raw_shares / shares
                out.append(self._row(u, 2, norm * u.raw_shares / shares, usage, u_eff))
        return out

    def _row(self, a: Association, depth: int, norm: float, usage: float, eff: float) -> ShareRow:
        factor = calc_factor(eff, norm)
        raw = max(1, round(a.raw_shares))
        return ShareRow(a.account, a.user, depth, raw, norm, self.usage(a), usage, eff, factor)


def calc_factor(effective_usage: float, norm_shares: float) -> float:
    """Slurm's classic fair-share factor: ``2 ** (-EffectvUsage / NormShares)`` (0 without shares)."""
    if norm_shares <= 0:
        return 0.0
    return math.pow(2.0, -effective_usage / norm_shares)


def _user_key(a: Association) -> str:
    return a.user or ""

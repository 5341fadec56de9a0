"""The estate's one adoption rule for every dynamic provider: which objects this deployment created or took over.

Why: a `create` adopts an existing object with the same natural key (an orphan of an interrupted `up`, or an
object the guide had teams make by hand). When a resource's URN changes (a rename without `aliases`) or it is
`--replace`d, the engine creates the new resource first, which adopts the live object, and then deletes the old
URN, whose `delete` would remove the object just taken over. Every dynamic resource of one deployment runs in
one provider-host process, so what is recorded here is seen by that later delete, which then only forgets the
object. The same record keeps two resources of one deployment from claiming one object: the second is refused
instead of silently sharing it (and one day deleting it for the other).

Residual risk (docs/uptimerobot.md, "the adoption ledger"): a run interrupted between the adopting create and the
old delete loses the record, and Pulumi does not promise one host process per deployment (pulumi/pulumi#412);
`aliases` are the real fix for renames.
"""

from __future__ import annotations

import threading
from enum import Enum

# (vendor API base URL, kind of object, vendor's id or natural key): base URLs keep fakes and regions apart.
LedgerKey = tuple[str, str, str]


class Claim(Enum):
    """How a resource of this deployment came to manage an object."""

    CREATED = "created"
    ADOPTED = "taken over"


class DeploymentLedger:
    """Objects claimed by resources of the deployment this process serves; thread-safe."""

    def __init__(self) -> None:
        self._claims: dict[LedgerKey, Claim] = {}
        self._lock = threading.Lock()

    def claim(self, key: LedgerKey, how: Claim) -> None:
        """Record that a resource of this deployment created or took over the object.

        A take-over is never downgraded to a creation: the old URN's delete must still leave the object alone.
        """
        with self._lock:
            if self._claims.get(key) is not Claim.ADOPTED:
                self._claims[key] = how

    def claim_unless_claimed(self, key: LedgerKey, how: Claim) -> Claim | None:
        """Record the claim unless another resource already made one; return that earlier claim, if any."""
        with self._lock:
            earlier = self._claims.get(key)
            if earlier is None:
                self._claims[key] = how
            return earlier

    def claimed(self, key: LedgerKey) -> Claim | None:
        """How a resource of this deployment claimed the object, or None."""
        with self._lock:
            return self._claims.get(key)

    def forget(self) -> None:
        """Start a new deployment (tests that play several deployments in one process)."""
        with self._lock:
            self._claims.clear()


# One ledger for every vendor: the rule is the estate's, not a provider's.
LEDGER = DeploymentLedger()

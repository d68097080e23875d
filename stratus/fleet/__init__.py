"""The compute fleet: node lifecycle (launch, terminate, health, reconciliation) through providers."""

from stratus.fleet.fleet import Fleet
from stratus.fleet.host import FleetHost

__all__ = ["Fleet", "FleetHost"]

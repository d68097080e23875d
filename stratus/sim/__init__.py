"""Replaying workload traces through the scheduling engine (``stratus simulate``)."""

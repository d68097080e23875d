"""The metrics tests use the integration tests' clusters (torn down after each test)."""

from tests.integration.conftest import stratus, workdir

__all__ = ["stratus", "workdir"]

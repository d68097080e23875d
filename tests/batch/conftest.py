"""The Batch door's tests use the integration tests' clusters (torn down after each test)."""

from tests.integration.conftest import stratus

__all__ = ["stratus"]

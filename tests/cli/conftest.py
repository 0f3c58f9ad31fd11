"""The CLI tests use real servers and real databases (fixtures shared with the end-to-end tests)."""

from tests.e2e.conftest import server, server_factory

__all__ = ["server", "server_factory"]

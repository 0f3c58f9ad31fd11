"""The one exception hierarchy of smshook.

::

    SmshookError
    ├── ConfigError            configuration that cannot start (names the offending key)
    ├── ProviderError          a callback we will not turn into events; carries the HTTP status
    │   ├── AuthError          wrong credentials (401) or source address (403): never stored
    │   │   └── SignatureError a provider's verify() refused the request: also kept in the rejected log
    │   └── InvalidRequest     authenticated but unreadable or invalid (400/415/422): quarantined
    │       └── AdapterFailure the adapter itself failed (a bug, not bad input): quarantined (422)
    ├── Refused                a hook request refused before its adapter saw it (400/401/403/404/405/413)
    ├── ApiError               a 4xx answer of the /v1 API, ``{"error": message}``
    ├── ReprocessError         re-processing a quarantined request refused (404/409) or failed (422)
    └── StoreError             the store could not commit: answer so that the provider retries (503)

Foreign exceptions (``ValueError`` from a date parser, ``sqlite3.Error``, ...) are translated
at the boundary with ``raise ... from``, so callers only ever catch these (the database drivers'
errors in one place: :func:`smshook.storage.errors.map_exceptions`). Every class but
:class:`ConfigError` and :class:`StoreError` carries ``status``, the HTTP status to answer with.
"""

from __future__ import annotations


class SmshookError(Exception):
    """Base of every error smshook raises on purpose."""


class ConfigError(SmshookError):
    """The configuration is invalid; the message names the key."""


class ProviderError(SmshookError):
    """A provider request we reject. ``status`` is the HTTP status to answer with."""

    status: int = 400

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status

    @property
    def message(self) -> str:
        return str(self)


class AuthError(ProviderError):
    """Credentials or source address do not match the connection. Not stored."""

    status = 401


class SignatureError(AuthError):
    """A provider's ``verify`` refused the request (bad or missing signature, stale timestamp,
    wrong in-body credentials). Not stored as events; kept, masked, in the rejected-requests log.
    ``reason`` is a short class for metrics: ``signature``, ``missing``, ``stale``, ``credentials``."""

    def __init__(self, message: str, *, reason: str = "signature", status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.reason = reason


class InvalidRequest(ProviderError):
    """Authenticated, but the body cannot be read or is not what the provider sends. Quarantined."""

    status = 400


class AdapterFailure(InvalidRequest):
    """The adapter itself failed on a request (a bug, not bad input): kept for re-processing."""

    status = 422


class Refused(SmshookError):
    """A hook request refused before it reached the adapter (never stored); ``headers`` go with the answer."""

    def __init__(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


class ApiError(SmshookError):
    """A 4xx answer of the API: ``{"error": message}`` with ``status`` (and optional headers)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


class ReprocessError(SmshookError):
    """Re-processing refused or failed; ``status`` is the HTTP status the API answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class StoreError(SmshookError):
    """The store could not commit. Nothing was acknowledged."""

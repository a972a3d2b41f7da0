"""The one exception tree of memfuse-server.

Every error the service raises on purpose is a ``MemFuseError``. The API maps
each class to one HTTP status in ``api/errors.py`` and nowhere else; the CLI
prints the message. Each message says what was wrong and what to do.

::

    MemFuseError                      500  something failed inside the server
    ├── InvalidInput                  422  the request is well-formed but its values are not acceptable
    │   └── PayloadTooLarge           413  the body is over ``server.max_body_bytes``
    ├── NotFound                      404  a user, agent, session, message or knowledge item is unknown
    ├── Unauthorized                  401  no API key, or one that is unknown or expired
    ├── Forbidden                     403  the API key belongs to another user, or the action needs the admin key
    ├── Conflict                      409  a name is already taken
    ├── Unavailable                   503  a dependency (database, embedding service) cannot serve now
    │   └── EmbeddingUnavailable      503  the embedding backend failed or timed out
    ├── ExtractionFailed              500  the extraction model failed or answered with something unusable
    ├── WritesFailed                  500  some of several independent writes failed (each one named)
    ├── ConfigurationError            ---  the settings cannot work; raised at start, never per request
    └── StartupFailed                 ---  the server cannot start (port taken, data folder not
                                           writable, ...); ``exit_code`` tells which
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of a request."""

    field: str
    message: str


class MemFuseError(Exception):
    """Root of every error memfuse-server raises on purpose."""

    def __init__(self, message: str, *, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors: list[FieldError] = list(errors or [])


class InvalidInput(MemFuseError):
    """The request's values are not acceptable."""


class PayloadTooLarge(InvalidInput):
    """The request body is larger than the configured limit."""


class NotFound(MemFuseError):
    """A referenced object does not exist (or is not visible to the caller)."""


class Unauthorized(MemFuseError):
    """The request carries no valid API key."""


class Forbidden(MemFuseError):
    """The API key is valid but may not do this (another user's data, or an admin action)."""


class Conflict(MemFuseError):
    """The object cannot be created or renamed because its name is taken."""


class Unavailable(MemFuseError):
    """A dependency cannot serve the request now; retrying later may succeed.

    ``retry_after``: seconds worth waiting before a retry (the API's ``Retry-After``).
    """

    def __init__(
        self, message: str, *, retry_after: float = 1.0, errors: list[FieldError] | None = None
    ) -> None:
        super().__init__(message, errors=errors)
        self.retry_after = retry_after


class EmbeddingUnavailable(Unavailable):
    """The embedding backend failed or timed out."""


class ExtractionFailed(MemFuseError):
    """The extraction model failed, timed out or answered with something unusable.

    Raised by extractors inside background jobs, which retry the episode later.
    """


class WritesFailed(MemFuseError):
    """Some of several independent writes failed; the others went through.

    ``failures`` maps each failed write's name to its error. The writes are
    idempotent, so the caller (a background job) retries the whole set.
    """

    def __init__(self, failures: dict[str, BaseException]) -> None:
        named = "; ".join(f"{name}: {exc}" for name, exc in failures.items())
        super().__init__(f"{len(failures)} write(s) failed: {named}")
        self.failures = failures


class ConfigurationError(MemFuseError):
    """The settings describe a server that cannot work."""


class StartupFailed(MemFuseError):
    """The server cannot start; the CLI prints the message and exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


__all__ = [
    "ConfigurationError",
    "Conflict",
    "EmbeddingUnavailable",
    "ExtractionFailed",
    "FieldError",
    "Forbidden",
    "InvalidInput",
    "MemFuseError",
    "NotFound",
    "PayloadTooLarge",
    "StartupFailed",
    "Unauthorized",
    "Unavailable",
    "WritesFailed",
]

"""The project's own exception types.

Each carries the underlying cause (``raise ... from err``) so nothing is lost.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CtxError",
    "MalformedResponseError",
    "MissingDependencyError",
    "ModelLoadError",
    "NotSupportedError",
    "RemoteServiceError",
    "ScoreError",
    "ServiceTimeoutError",
    "ServiceUnavailableError",
    "UnknownModelError",
]


class CtxError(Exception):
    """Base class of every error this package raises on its own account."""


class MissingDependencyError(CtxError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        super().__init__(f"{feature} needs the '{package}' package: pip install 'ctx-rag[{extra}]'")
        self.package = package
        self.extra = extra


class ConfigError(CtxError, ValueError):
    """A component config cannot be written or rebuilt (unknown type or argument, an unserializable value)."""


class ModelLoadError(CtxError, ValueError):
    """A model could not be loaded from the given id or path."""


class RemoteServiceError(CtxError):
    """A remote API (e.g. Cohere) failed, timed out or answered something unusable.

    Attributes:
        status_code: The HTTP status, when the service answered at all.
        attempts: How many attempts were made before giving up.
    """

    def __init__(self, message: str, *, status_code: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.attempts = attempts


class ServiceUnavailableError(RemoteServiceError):
    """The service could not be reached at all (connection refused, DNS, reset), after the retries."""


class ServiceTimeoutError(RemoteServiceError):
    """Every attempt timed out, or the call's deadline passed."""


class MalformedResponseError(RemoteServiceError):
    """The service answered, but not with the JSON shape its API promises (not retried)."""


class UnknownModelError(RemoteServiceError):
    """The service does not serve the model asked for (the message names the ones it does)."""


class NotSupportedError(CtxError):
    """A model or service lacks a feature the call needs; the message names the feature.

    Attributes:
        feature: What is missing, e.g. ``"logprobs on /v1/chat/completions"``.
    """

    def __init__(self, message: str, *, feature: str) -> None:
        super().__init__(message)
        self.feature = feature


class ScoreError(CtxError, ValueError):
    """A scorer returned scores that cannot be ranked: NaN or infinite values.

    A NaN compares false with everything, so sorting around it would make the order of
    the *other* passages depend on the input order; the scorer is named instead.
    """


def require(package: str, extra: str, feature: str) -> None:
    """Raise [`MissingDependencyError`][ctx_core.errors.MissingDependencyError] unless ``package`` can be imported."""
    import importlib.util

    if importlib.util.find_spec(package) is None:
        raise MissingDependencyError(package, extra, feature)

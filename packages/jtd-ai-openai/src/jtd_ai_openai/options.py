"""The driver-specific keys of a ``[providers.NAME]`` table, checked once when it is built.

``organization`` / ``project`` become the ``OpenAI-Organization`` / ``OpenAI-Project``
headers; ``auth_header`` sends the key raw in another header (Azure's ``api-key``) instead
of ``Authorization: Bearer``; ``api_version`` adds ``?api-version=`` to every request
(Azure); ``max_tokens_field`` and ``system_role`` pick field and role names for servers
that differ from OpenAI's current defaults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from attrs import frozen

from jtd_ai.errors import ConfigurationError

if TYPE_CHECKING:
    from jtd_ai.config import ProviderConfig

__all__ = ["OpenAIOptions"]

_STRING_KEYS = ("organization", "project", "auth_header", "api_version")

_CHOICES = {
    "max_tokens_field": ("auto", "max_tokens", "max_completion_tokens"),
    "system_role": ("system", "developer"),
}


def _is_token(name: str) -> bool:
    return bool(name) and all(c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~")
                              for c in name)


def _string(config: ProviderConfig, key: str, default: str | None = None) -> str | None:
    value = config.option(key, default)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigurationError(
            f"providers.{config.name}.{key} must be a non-empty string, not "
            f"{type(value).__name__ if not isinstance(value, str) else repr(value)}"
        )
    if value is not None and (not value.isascii() or not value.isprintable()):
        # These travel in headers (organization, project) or the query string.
        raise ConfigurationError(
            f"providers.{config.name}.{key} must be printable ASCII (no newline or other "
            f"control character)")
    allowed = _CHOICES.get(key)
    if allowed is not None and value not in allowed:
        raise ConfigurationError(
            f"providers.{config.name}.{key} must be one of {', '.join(allowed)}, not {value!r}"
        )
    return value


@frozen
class OpenAIOptions:
    """Validated driver options of one provider."""

    organization: str | None = None
    project: str | None = None
    auth_header: str | None = None
    api_version: str | None = None
    max_tokens_field: str = "auto"
    system_role: str = "system"

    #: Every key this driver reads from a ``[providers.NAME]`` table.
    KEYS: ClassVar[frozenset[str]] = frozenset(
        {*_STRING_KEYS, "max_tokens_field", "system_role"})

    @classmethod
    def from_config(cls, config: ProviderConfig) -> OpenAIOptions:
        values: dict[str, Any] = {key: _string(config, key) for key in _STRING_KEYS}
        auth_header = values["auth_header"]
        if auth_header is not None and not _is_token(auth_header):
            raise ConfigurationError(
                f"providers.{config.name}.auth_header must be an HTTP header name (letters, "
                f"digits, '-'), not {auth_header!r}")
        values["max_tokens_field"] = _string(config, "max_tokens_field", "auto")
        values["system_role"] = _string(config, "system_role", "system")
        return cls(**values)

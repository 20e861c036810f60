"""Providers and where their settings come from.

A *provider* is a named, configured driver instance: two providers may use one driver.
Each setting is taken from the first of these that has it:

1. explicit arguments (``AIManager(providers={...})``, ``AIManager.configure(...)``);
2. the TOML file: ``$JTD_AI_CONFIG``, else ``./jtd-ai.toml``, else the user config
   directory (``$XDG_CONFIG_HOME/jtd-ai/config.toml``, ``~/.config/jtd-ai/config.toml``,
   ``~/Library/Application Support/jtd-ai/config.toml``, ``%APPDATA%\\jtd-ai\\config.toml``);
3. environment variables: the key named by ``api_key_env``, else the driver's own
   (``OPENAI_API_KEY``, ``XAI_API_KEY``, ``GEMINI_API_KEY``, ...), the driver's base URL
   variable (``OLLAMA_HOST``), and ``JTD_AI_DEFAULT_PROVIDER`` for the default;
4. the driver's defaults.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from attrs import field, frozen

from jtd_ai.errors import ConfigurationError
from jtd_ai.secret import Secret

__all__ = ["ProviderConfig", "Settings", "config_file_path", "load_settings"]

_KNOWN_KEYS = frozenset(
    {"driver", "api_key", "api_key_env", "base_url", "default_model", "timeout",
     "connect_timeout", "deadline", "stream_idle_timeout", "retry_attempts", "retry_delay",
     "retry_max_delay", "headers", "requests_per_minute", "tokens_per_minute",
     # Network (docs/configuration.md, "Network"):
     "proxy", "ca_bundle", "trust_store", "verify", "max_response_size", "max_line_size"}
)

#: Default caps on what one reply may make us hold: a whole body, one stream line or event.
MAX_RESPONSE_SIZE = 64 * 1024 * 1024
MAX_LINE_SIZE = 64 * 1024 * 1024
#: Where trusted CA certificates come from: certifi's bundle (as httpx), or the operating
#: system's store through the ``truststore`` package.
TRUST_STORES = ("certifi", "system")

#: Top-level tables beside [providers]: the store, pricing sources and budgets
#: (see docs/catalog.md).
TABLES = ("store", "pricing", "budget")


def _secret(value: Secret | str | None) -> Secret | None:
    if value is None or isinstance(value, Secret):
        return value
    return Secret(value)


def _positive(name: str, unit: str = "seconds") -> Any:
    def check(_: object, __: object, value: float | None) -> None:
        if value is not None and (isinstance(value, bool) or not value > 0):
            raise ConfigurationError(f"{name} must be a number of {unit} above 0, not {value!r}")

    return check


@frozen(kw_only=True)
class ProviderConfig:
    """One provider's settings. ``options`` holds the driver-specific keys."""

    name: str
    driver: str
    api_key: Secret | None = field(default=None, converter=_secret)
    api_key_env: str | None = None
    base_url: str | None = None
    default_model: str | None = None
    #: Read timeout per attempt, in seconds.
    timeout: float = field(default=60.0, validator=_positive("timeout"))
    connect_timeout: float = field(default=10.0, validator=_positive("connect_timeout"))
    #: Whole-call deadline across every attempt and backoff, in seconds.
    deadline: float = field(default=300.0, validator=_positive("deadline"))
    #: Longest silence allowed between two stream events; defaults to ``timeout``.
    stream_idle_timeout: float | None = field(default=None,
                                              validator=_positive("stream_idle_timeout"))
    #: Attempts in all, the first included (as in the original config).
    retry_attempts: int = 3
    #: Base of the exponential backoff, in milliseconds.
    retry_delay: int = 1000
    #: Longest single wait between attempts (also caps Retry-After), in seconds.
    retry_max_delay: float = 60.0
    headers: Mapping[str, str] = field(factory=dict)
    #: Client-side pacing of batches: starts per minute, and tokens per minute (estimated).
    requests_per_minute: float | None = field(
        default=None, validator=_positive("requests_per_minute", "requests"))
    tokens_per_minute: float | None = field(
        default=None, validator=_positive("tokens_per_minute", "tokens"))
    #: Proxy URL for this provider (``http://user:pass@host:3128``); overrides the
    #: environment's ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` (``NO_PROXY`` still applies
    #: to those). ``""`` turns proxies off for this provider.
    proxy: str | None = None
    #: A PEM file (or a directory of hashed certificates) of CAs to trust instead of certifi's.
    ca_bundle: str | None = None
    #: ``"certifi"`` (default) or ``"system"`` (the OS store, through ``truststore``).
    trust_store: str = "certifi"
    #: ``False`` turns TLS certificate checks off (logged as a warning on first use).
    verify: bool = True
    #: Largest reply body (after decompression) we read, in bytes; more is an error.
    max_response_size: int = field(default=MAX_RESPONSE_SIZE,
                                   validator=_positive("max_response_size", "bytes"))
    #: Largest single stream line or event, in bytes.
    max_line_size: int = field(default=MAX_LINE_SIZE,
                               validator=_positive("max_line_size", "bytes"))
    options: Mapping[str, Any] = field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.retry_attempts, bool) or self.retry_attempts < 1:
            raise ConfigurationError(
                f"provider {self.name!r}: retry_attempts counts every attempt and must be "
                f"at least 1, not {self.retry_attempts!r}"
            )
        if self.retry_delay < 0:
            raise ConfigurationError(
                f"provider {self.name!r}: retry_delay is milliseconds and cannot be negative"
            )
        if self.base_url is not None and not self.base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"provider {self.name!r}: base_url must start with http:// or https://, "
                f"got {self.base_url!r}"
            )
        if self.trust_store not in TRUST_STORES:
            raise ConfigurationError(
                f"providers.{self.name}.trust_store must be one of {', '.join(TRUST_STORES)}, "
                f"not {self.trust_store!r}")

    def option(self, key: str, default: Any = None) -> Any:
        """A driver-specific setting."""
        return self.options.get(key, default)

    @property
    def idle_timeout(self) -> float:
        return self.stream_idle_timeout if self.stream_idle_timeout is not None else self.timeout


@frozen
class Settings:
    """What the file and explicit arguments say, before drivers fill in their defaults."""

    default: str | None = None
    providers: Mapping[str, Mapping[str, Any]] = field(factory=dict)
    source: Path | None = None
    #: The top-level ``[store]``, ``[pricing]`` and ``[budget]`` tables, by name.
    tables: Mapping[str, Mapping[str, Any]] = field(factory=dict)


def config_file_path(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path | None:
    """The config file that applies, or None when there is none."""
    env = os.environ if env is None else env
    explicit = env.get("JTD_AI_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigurationError(f"JTD_AI_CONFIG points to {path}, which is not a file")
        return path
    local = (cwd or Path.cwd()) / "jtd-ai.toml"
    if local.is_file():
        return local
    user = _user_config_dir(env) / "config.toml"
    return user if user.is_file() else None


def _user_config_dir(env: Mapping[str, str]) -> Path:
    if sys.platform == "win32" and env.get("APPDATA"):
        return Path(env["APPDATA"]) / "jtd-ai"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "jtd-ai"
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "jtd-ai"


def read_config_file(path: Path) -> Settings:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"config file {path} is not valid TOML: {exc}") from None
    providers = data.get("providers", {})
    if not isinstance(providers, dict) or not all(isinstance(v, dict) for v in providers.values()):
        raise ConfigurationError(
            f"config file {path}: [providers.NAME] tables expected, e.g. [providers.openai]"
        )
    default = data.get("default")
    if default is not None and not isinstance(default, str):
        raise ConfigurationError(f"config file {path}: default must be a provider name")
    tables = {name: data[name] for name in TABLES if name in data}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigurationError(f"config file {path}: [{name}] must be a table")
    return Settings(default=default, providers=providers, source=path, tables=tables)


def load_settings(
    *,
    providers: Mapping[str, Mapping[str, Any]] | None = None,
    default: str | None = None,
    config_file: Path | str | bool | None = None,
    env: Mapping[str, str] | None = None,
    tables: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Merge explicit arguments over the config file; ``config_file=False`` skips the file.
    ``tables`` (``{"store": {...}, "budget": {...}}``) win key by key over the file's."""
    env = os.environ if env is None else env
    if config_file is False:
        file_settings = Settings()
    else:
        path = Path(config_file) if isinstance(config_file, str | Path) else config_file_path(env)
        file_settings = read_config_file(path) if path is not None else Settings()
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in file_settings.providers.items()}
    for name, values in (providers or {}).items():
        merged.setdefault(name, {}).update(values)
    merged_tables: dict[str, dict[str, Any]] = {
        k: dict(v) for k, v in file_settings.tables.items()}
    for name, values in (tables or {}).items():
        merged_tables.setdefault(name, {}).update(values)
    return Settings(
        default=default or file_settings.default or env.get("JTD_AI_DEFAULT_PROVIDER") or None,
        providers=merged,
        source=file_settings.source,
        tables=merged_tables,
    )


def resolve_provider(
    name: str,
    values: Mapping[str, Any],
    *,
    api_key_env: str | Sequence[str] | None,
    base_url_env: str | None,
    default_base_url: str | None,
    default_model: str | None,
    env: Mapping[str, str],
    default_port: int | None = None,
) -> ProviderConfig:
    """A ProviderConfig from its file/explicit ``values``, falling back to env and defaults.

    ``api_key_env`` may name several variables, tried in order (``GEMINI_API_KEY`` then
    ``GOOGLE_API_KEY``); ``default_port`` completes a base-URL variable given as a bare host
    (``OLLAMA_HOST=gpu-box`` means port 11434, as Ollama's own client reads it)."""
    from jtd_ai.convert import structure_config

    data = {k: v for k, v in values.items() if k in _KNOWN_KEYS}
    options = {k: v for k, v in values.items() if k not in _KNOWN_KEYS}
    data.setdefault("driver", name)
    candidates = ([data["api_key_env"]] if data.get("api_key_env") else
                  [api_key_env] if isinstance(api_key_env, str) else list(api_key_env or ()))
    key_env = next((v for v in candidates if env.get(v)), candidates[0] if candidates else None)
    if data.get("api_key") is None and key_env and env.get(key_env):
        data["api_key"] = env[key_env]
    if data.get("base_url") is None:
        from_env = env.get(base_url_env) if base_url_env else None
        data["base_url"] = (_normalise_url(from_env, default_port) if from_env
                            else default_base_url)
    if data.get("default_model") is None and default_model:
        data["default_model"] = default_model
    data["api_key_env"] = key_env
    data["name"] = name
    data["options"] = options
    return structure_config(data, ProviderConfig, what=f"providers.{name}")


def _normalise_url(value: str, default_port: int | None = None) -> str:
    """A URL from a variable that may hold ``host``, ``host:port`` or a full URL."""
    if value.startswith(("http://", "https://")):
        return value
    host, _, path = value.partition("/")
    if default_port is not None and not host.startswith("[") and ":" not in host:
        host = f"{host}:{default_port}"
    return f"http://{host}" + (f"/{path}" if path else "")

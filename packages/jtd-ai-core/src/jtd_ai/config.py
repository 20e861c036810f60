"""Providers and where their settings come from.

A *provider* is a named, configured driver instance: two providers may use one driver.
Each setting is taken from the first of these that has it:

1. explicit arguments (``AIManager(providers={...})``, ``AIManager.configure(...)``);
2. the TOML file: ``$JTD_AI_CONFIG``, else ``./jtd-ai.toml``, else the user config
   directory (``$XDG_CONFIG_HOME/jtd-ai/config.toml``, ``~/.config/jtd-ai/config.toml``,
   ``~/Library/Application Support/jtd-ai/config.toml``, ``%APPDATA%\\jtd-ai\\config.toml``);
3. environment variables, named as the provider's own SDK names them: the key named by
   ``api_key_env``, else the driver's (``OPENAI_API_KEY``, ``XAI_API_KEY``,
   ``GOOGLE_API_KEY``/``GEMINI_API_KEY``, ...), the driver's base URL variable
   (``OPENAI_BASE_URL``, ``GOOGLE_GEMINI_BASE_URL``, ``OLLAMA_HOST``), driver options the
   SDK reads (``OPENAI_ORG_ID``, ``OPENAI_PROJECT_ID``), and ``JTD_AI_DEFAULT_PROVIDER`` for
   the default;
4. a preset (:mod:`jtd_ai.presets`: ``preset = "groq"``, or a provider named like one),
   which names the service's base URL, key variable, default model and prices;
5. the driver's defaults.

Everything is checked before any request is sent (docs/configuration.md, "Checks"): the
file's shape and top-level names when it is read; a provider's settings (types, ranges,
URLs, keys, headers, ``prices``) when the provider is resolved; and its driver-specific
keys against the names its protocol declares (:func:`check_options`) when its driver is
built. A wrong name is a :class:`~jtd_ai.errors.ConfigurationError` that suggests the
nearest known one.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import field, frozen

from jtd_ai.errors import AIError, ConfigurationError
from jtd_ai.secret import Secret, mask_url, remember

if TYPE_CHECKING:
    import attrs

    from jtd_ai.pricing import Pricing

__all__ = [
    "CORE_OPTIONS",
    "LIMITS",
    "ProviderConfig",
    "Settings",
    "check_json_setting",
    "check_options",
    "config_file_path",
    "load_settings",
]

log = logging.getLogger("jtd_ai.config")

_KNOWN_KEYS = frozenset(
    {"driver", "preset", "api_key", "api_key_env", "base_url", "default_model", "timeout",
     "connect_timeout", "deadline", "stream_idle_timeout", "retry_attempts", "retry_delay",
     "retry_max_delay", "headers", "requests_per_minute", "tokens_per_minute",
     # Network (docs/configuration.md, "Network"):
     "proxy", "ca_bundle", "trust_store", "verify", "max_response_size", "max_line_size"}
)

#: Keys of a ``[providers.NAME]`` table that the core reads from ``options`` whatever the
#: driver: ``keep_raw``, ``prices``, ``http_backend``, ``models_ttl``, ``api_key_required``,
#: ``fallbacks`` (:mod:`jtd_ai.fallbacks`).
CORE_OPTIONS = frozenset({"keep_raw", "prices", "http_backend", "models_ttl",
                          "api_key_required", "fallbacks"})

#: Default caps on what one reply may make us hold: a whole body, one stream line or event.
MAX_RESPONSE_SIZE = 64 * 1024 * 1024
MAX_LINE_SIZE = 64 * 1024 * 1024
#: Where trusted CA certificates come from: certifi's bundle (as httpx), or the operating
#: system's store through the ``truststore`` package.
TRUST_STORES = ("certifi", "system")

#: Top-level tables beside [providers]: the store, pricing sources and budgets (see
#: docs/catalog.md), and the call plugins' [plugins.NAME] tables (docs/writing-a-plugin.md).
TABLES = ("store", "pricing", "budget", "plugins")
_TOP_LEVEL = ("default", "providers", *TABLES)

_DAY = 86_400.0
#: The range of each numeric setting: (lowest, highest, lowest allowed itself, unit). A
#: value outside it, NaN or an infinity is a ConfigurationError naming the key. The upper
#: bounds only catch values that cannot be meant (a timeout beyond a day, a wait of years).
LIMITS: Mapping[str, tuple[float, float, bool, str]] = {
    "timeout": (0.0, _DAY, False, "seconds"),
    "connect_timeout": (0.0, _DAY, False, "seconds"),
    "deadline": (0.0, _DAY, False, "seconds"),
    "stream_idle_timeout": (0.0, _DAY, False, "seconds"),
    "retry_attempts": (1, 100, True, "attempts"),
    "retry_delay": (0, _DAY * 1000, True, "milliseconds"),
    "retry_max_delay": (0.0, _DAY, True, "seconds"),
    "requests_per_minute": (0.0, 1e9, False, "requests"),
    "tokens_per_minute": (0.0, 1e12, False, "tokens"),
    "max_response_size": (1, 2**40, True, "bytes"),
    "max_line_size": (1, 2**40, True, "bytes"),
    "models_ttl": (0.0, 365 * _DAY, True, "seconds"),
}
_WHOLE = frozenset({"retry_attempts", "retry_delay", "max_response_size", "max_line_size"})

#: Header names whose values are credentials.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "api-key", "x-api-key",
                             "x-goog-api-key", "cookie"})
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HOST_CHARS = frozenset("-_.0123456789abcdefghijklmnopqrstuvwxyz")
_MASKED = "'***'"


# -- helpers ---------------------------------------------------------------------------------


def _nearest(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the known name nearest ``word``, or ``""``."""
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(value: object) -> str:
    return type(value).__name__


def _bad_char(text: str) -> str | None:
    """What is wrong with ``text`` as a header value or key: a control character or a
    non-ASCII one (described by kind and position, never by the text itself)."""
    for i, char in enumerate(text):
        code = ord(char)
        if code < 0x20 or code == 0x7F:
            kind = {"\n": "a line feed", "\r": "a carriage return", "\t": "a tab",
                    "\0": "a NUL"}.get(char, f"control character U+{code:04X}")
            return f"{kind} at position {i}"
        if code > 0x7E:
            return f"a non-ASCII character (U+{code:04X}) at position {i}"
    return None


def check_key(value: str, setting: str) -> None:
    """Raise ConfigurationError if ``value`` cannot travel in an HTTP header: control
    characters (a trailing newline from a file), non-ASCII characters, surrounding spaces.
    The message names ``setting``, never the value."""
    problem = _bad_char(value)
    if problem is None and value != value.strip():
        problem = "a space at its start or end"
    if problem is not None:
        raise ConfigurationError(
            f"{setting} holds {problem}; an API key is printable ASCII only. Copy the key "
            f"again without the extra character (a trailing newline often comes from "
            f"reading a file)")


def check_url(value: object, setting: str, *, allow_query: bool = False) -> str:
    """``value`` as an http(s) URL with its scheme in lower case, or a ConfigurationError
    that names ``setting`` and shows the URL with any password masked. A password found in
    the URL is registered with :func:`jtd_ai.secret.remember` so no error or log shows it."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    if not isinstance(value, str):
        raise ConfigurationError(f"{setting} must be a URL string, not {_type_name(value)}")
    shown = mask_url(value)
    problem = None
    if not value.isascii():
        problem = ("it is not ASCII: write an international domain name in its punycode "
                   "(xn--) form and percent-encode the path")
    elif any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        problem = "it holds a control character (a newline or tab?)"
    if problem is None:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError when out of range or not a number
        except ValueError as exc:
            problem = f"it is not a valid URL ({exc})"
        else:
            if parts.password:
                remember(parts.password)
                remember(unquote(parts.password))
            scheme = parts.scheme.lower()
            if scheme not in ("http", "https"):
                raise ConfigurationError(
                    f"{setting} must start with http:// or https://, not {shown!r}")
            problem = _host_problem(parts.hostname, parts.netloc)
            if problem is None and not allow_query and (parts.query or parts.fragment
                                                        or value.endswith(("?", "#"))):
                problem = ("it has a ?query or #fragment; a base URL is only scheme, host, "
                           "port and path (query parameters go in driver options, e.g. "
                           "api_version)")
            if problem is None:
                return urlunsplit((scheme, parts.netloc, parts.path, parts.query,
                                   parts.fragment))
    raise ConfigurationError(f"{setting} {shown!r} cannot be used: {problem}")


def _host_problem(host: str | None, netloc: str) -> str | None:
    if not host:
        return "it has no host"
    if "[" in netloc:  # an IPv6 literal; urlsplit checked the brackets
        return None
    if len(host) > 253:
        return "its host name is longer than 253 characters"
    for label in host.removesuffix(".").split("."):
        if not label:
            return "its host name has an empty label (two dots in a row?)"
        if len(label) > 63:
            return (f"its host name has a label of {len(label)} characters; DNS allows 63 "
                    f"at most")
        if not set(label) <= _HOST_CHARS:
            return "its host name holds characters a host name cannot (spaces, quotes, ...)"
    return None


def _number(setting: str, key: str, value: Any) -> None:
    """Raise ConfigurationError unless ``value`` is a number in the range :data:`LIMITS`
    gives ``key`` (a whole number for counts and sizes)."""
    low, high, low_ok, unit = LIMITS[key]
    whole = key in _WHOLE
    kind = "a whole number" if whole else "a number"
    lowest = f"at least {low:g}" if low_ok else f"above {low:g}"
    wanted = f"{kind} of {unit} {lowest} and at most {high:g}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        shown = "a boolean" if isinstance(value, bool) else f"a {_type_name(value)} value"
        raise ConfigurationError(f"{setting} must be {wanted}, not {shown}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigurationError(f"{setting} must be {wanted}, not {value!r}")
    if whole and not isinstance(value, int):
        raise ConfigurationError(f"{setting} must be {wanted}, not {value!r}")
    if value < low or (value == low and not low_ok) or value > high:
        raise ConfigurationError(f"{setting} must be {wanted}, not {_short(value)}")


def _short(value: int | float) -> str:
    if isinstance(value, int) and value.bit_length() > 128:  # no repr past 4,300 digits
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    return repr(value)


def _brief(value: Any) -> str:
    """A short repr of a value that is no secret (a price, a name)."""
    if isinstance(value, str):
        return repr(value[:40])
    return masked(value)


def _whole(value: Any) -> Any:
    """Whole floats (``3.0``) as ints; anything else unchanged, for the validator to judge."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**62:
        return int(value)
    return value


def _secret(value: Any) -> Any:
    return Secret(value) if isinstance(value, str) else value


def _url_repr(value: str | None) -> str:
    return repr(mask_url(value)) if isinstance(value, str) else repr(value)


def _headers_repr(value: Any) -> str:
    if not isinstance(value, Mapping):
        return _MASKED
    return "{" + ", ".join(f"{k!r}: {_MASKED}" for k in value) + "}"


def masked(value: Any) -> str:
    """A repr of a config value with every string inside masked (numbers, booleans and
    shapes shown): for values that may hold a secret under a name we do not know."""
    if isinstance(value, str | bytes):
        return _MASKED
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k!r}: {masked(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        inner = ", ".join(masked(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    if value is None or isinstance(value, bool | float):
        return repr(value)
    if isinstance(value, int):
        return _short(value)
    if type(value).__module__.startswith("jtd_ai."):
        return repr(value)  # our own values (Pricing, Secret) show no secret
    return f"<{_type_name(value)}>"


_SHOWN = frozenset({"driver", "preset", "api_key_env", "default_model", "trust_store"})


def _table_repr(table: Any) -> str:
    """One provider table of the settings, with secrets masked."""
    if not isinstance(table, Mapping):
        return masked(table)
    shown = []
    for key, value in table.items():
        if key in ("base_url", "proxy"):
            text = _url_repr(value)
        elif key == "headers":
            text = _headers_repr(value)
        elif key in _SHOWN or (key in _KNOWN_KEYS and key != "api_key"
                                and not isinstance(value, str | Mapping)):
            text = repr(value)
        else:
            text = masked(value)
        shown.append(f"{key!r}: {text}")
    return "{" + ", ".join(shown) + "}"


def _providers_repr(value: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k!r}: {_table_repr(v)}" for k, v in value.items()) + "}"


# -- ProviderConfig ----------------------------------------------------------------------------


def _in_range(instance: ProviderConfig, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None and attribute.default is None:
        return
    _number(f"providers.{instance.name}.{attribute.name}", attribute.name, value)


def _string(instance: ProviderConfig, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None and attribute.default is None:
        return
    if not isinstance(value, str):
        raise ConfigurationError(f"providers.{instance.name}.{attribute.name} must be a "
                                 f"string, not {_type_name(value)}")


@frozen(kw_only=True)
class ProviderConfig:
    """One provider's settings. ``options`` holds the driver-specific keys.

    Its repr shows no secret: the key is a :class:`~jtd_ai.Secret`, header values and the
    string values of ``options`` are masked, and a password in ``base_url`` or ``proxy`` is
    replaced by ``[REDACTED]``."""

    name: str
    driver: str = field(validator=_string)
    #: The preset this provider was built from (``"groq"``), if any: see :mod:`jtd_ai.presets`.
    preset: str | None = field(default=None, validator=_string)
    api_key: Secret | None = field(default=None, converter=_secret)
    api_key_env: str | None = field(default=None, validator=_string)
    base_url: str | None = field(default=None, repr=_url_repr)
    default_model: str | None = field(default=None, validator=_string)
    #: Read timeout per attempt, in seconds.
    timeout: float = field(default=60.0, validator=_in_range)
    connect_timeout: float = field(default=10.0, validator=_in_range)
    #: Whole-call deadline across every attempt and backoff, in seconds.
    deadline: float = field(default=300.0, validator=_in_range)
    #: Longest silence allowed between two stream events; defaults to ``timeout``.
    stream_idle_timeout: float | None = field(default=None, validator=_in_range)
    #: Attempts in all, the first included (as in the original config).
    retry_attempts: int = field(default=3, converter=_whole, validator=_in_range)
    #: Base of the exponential backoff, in milliseconds.
    retry_delay: int = field(default=1000, converter=_whole, validator=_in_range)
    #: Longest single wait between attempts (also caps Retry-After), in seconds.
    retry_max_delay: float = field(default=60.0, validator=_in_range)
    headers: Mapping[str, str] = field(factory=dict, repr=_headers_repr)
    #: Client-side pacing of batches: starts per minute, and tokens per minute (estimated).
    requests_per_minute: float | None = field(default=None, validator=_in_range)
    tokens_per_minute: float | None = field(default=None, validator=_in_range)
    #: Proxy URL for this provider (``http://user:pass@host:3128``); overrides the
    #: environment's ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` (``NO_PROXY`` still applies
    #: to those). ``""`` turns proxies off for this provider.
    proxy: str | None = field(default=None, repr=_url_repr)
    #: A PEM file (or a directory of hashed certificates) of CAs to trust instead of certifi's.
    ca_bundle: str | None = field(default=None, validator=_string)
    #: ``"certifi"`` (default) or ``"system"`` (the OS store, through ``truststore``).
    trust_store: str = "certifi"
    #: ``False`` turns TLS certificate checks off (logged as a warning on first use).
    verify: bool = True
    #: Largest reply body (after decompression) we read, in bytes; more is an error.
    max_response_size: int = field(default=MAX_RESPONSE_SIZE, converter=_whole,
                                   validator=_in_range)
    #: Largest single stream line or event, in bytes.
    max_line_size: int = field(default=MAX_LINE_SIZE, converter=_whole, validator=_in_range)
    options: Mapping[str, Any] = field(factory=dict, repr=masked)

    def __attrs_post_init__(self) -> None:
        where = f"providers.{self.name}"
        if not isinstance(self.name, str) or not self.name:
            raise ConfigurationError(f"a provider name must be a non-empty string, not "
                                     f"{masked(self.name)}")
        if self.api_key is not None:
            if not isinstance(self.api_key, Secret):
                raise ConfigurationError(
                    f"{where}.api_key must be a string, not {_type_name(self.api_key)}")
            check_key(self.api_key.reveal(), f"{where}.api_key")
        if self.base_url is not None:
            object.__setattr__(self, "base_url", check_url(self.base_url, f"{where}.base_url"))
        if self.proxy is not None and self.proxy != "":
            object.__setattr__(self, "proxy",
                               check_url(self.proxy, f"{where}.proxy", allow_query=True))
        if not isinstance(self.trust_store, str) or self.trust_store not in TRUST_STORES:
            given = self.trust_store
            shown = (f"{given[:40]!r}{_nearest(given, TRUST_STORES)}" if isinstance(given, str)
                     else masked(given))
            raise ConfigurationError(
                f"{where}.trust_store must be one of {', '.join(TRUST_STORES)}, not {shown}")
        if not isinstance(self.verify, bool):
            raise ConfigurationError(f"{where}.verify must be true or false, not "
                                     f"{masked(self.verify)}")
        if self.ca_bundle == "":
            raise ConfigurationError(f"{where}.ca_bundle must name a PEM file or directory")
        _check_headers(where, self.headers)
        if not isinstance(self.options, Mapping):
            raise ConfigurationError(f"{where}: options must be a table, not "
                                     f"{_type_name(self.options)}")
        options = _checked_core_options(where, self.options)
        if options is not self.options:
            object.__setattr__(self, "options", options)

    def option(self, key: str, default: Any = None) -> Any:
        """A driver-specific setting."""
        return self.options.get(key, default)

    @property
    def idle_timeout(self) -> float:
        return self.stream_idle_timeout if self.stream_idle_timeout is not None else self.timeout


def _check_headers(where: str, headers: Any) -> None:
    if not isinstance(headers, Mapping):
        raise ConfigurationError(f"{where}.headers must be a table of name = \"value\", not "
                                 f"{_type_name(headers)}")
    for name, value in headers.items():
        if not isinstance(name, str) or not name or not set(name) <= _TOKEN_CHARS:
            raise ConfigurationError(
                f"{where}.headers: {mask_url(str(name))[:60]!r} is not a valid header name "
                f"(letters, digits and !#$%&'*+-.^_`|~ only)")
        if not isinstance(value, str):
            raise ConfigurationError(f"{where}.headers.{name} must be a string, not "
                                     f"{_type_name(value)}")
        problem = _bad_char(value)
        if problem is not None:
            raise ConfigurationError(
                f"{where}.headers.{name} holds {problem}; header values are printable "
                f"ASCII only")
        if name.lower() in _SECRET_HEADERS:
            remember(value.removeprefix("Bearer ").removeprefix("Basic "))


def _checked_core_options(where: str, options: Mapping[str, Any]) -> Mapping[str, Any]:
    """``options`` with the core's own keys checked; ``prices`` tables become Pricing
    values, so a bad price fails here and not after a paid reply."""
    for key in ("keep_raw", "api_key_required"):
        if key in options and not isinstance(options[key], bool):
            raise ConfigurationError(f"{where}.{key} must be true or false, not "
                                     f"{masked(options[key])}")
    if "models_ttl" in options:
        _number(f"{where}.models_ttl", "models_ttl", options["models_ttl"])
    if "http_backend" in options and not isinstance(options["http_backend"], str):
        raise ConfigurationError(f"{where}.http_backend must be a string, not "
                                 f"{_type_name(options['http_backend'])}")
    if "fallbacks" in options:
        from jtd_ai.fallbacks import check_targets

        check_targets(options["fallbacks"], f"{where}.fallbacks")
    prices = options.get("prices")
    if prices is None:
        return options
    if not isinstance(prices, Mapping):
        raise ConfigurationError(
            f"{where}.prices must be a table of \"model\" = {{ input = ..., output = ... }}, "
            f"not {_type_name(prices)}")
    parsed = {str(model): _pricing(f"{where}.prices.{model}", entry)
              for model, entry in prices.items()}
    return {**options, "prices": parsed}


_PRICE_KEYS = ("input", "output", "cached_input", "cache_write", "reasoning", "tiers",
               "source", "as_of")
_TIER_KEYS = ("above_input_tokens", "input", "output", "cached_input")


def _pricing(setting: str, entry: Any) -> Pricing:
    """A ``prices`` entry as Pricing, or a ConfigurationError naming the bad key."""
    from jtd_ai.convert import structure_config
    from jtd_ai.pricing import Pricing

    if isinstance(entry, Pricing):
        return entry
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{setting} must be a table like {{ input = 0.15, output = "
                                 f"0.6 }} (dollars per million tokens), not {_type_name(entry)}")
    for key in entry:
        if key not in _PRICE_KEYS:
            raise ConfigurationError(f"{setting}: unknown key {key!r}"
                                     f"{_nearest(str(key), _PRICE_KEYS)}; known: "
                                     f"{', '.join(_PRICE_KEYS)}")
    for missing in ("input", "output"):
        if missing not in entry:
            raise ConfigurationError(f"{setting} needs {missing} (dollars per million tokens)")
    tiers = entry.get("tiers", [])
    if not isinstance(tiers, list) or not all(isinstance(t, Mapping) for t in tiers):
        raise ConfigurationError(f"{setting}.tiers must be a list of tables")
    for i, tier in enumerate(tiers):
        for key in tier:
            if key not in _TIER_KEYS:
                raise ConfigurationError(f"{setting}.tiers[{i}]: unknown key {key!r}"
                                         f"{_nearest(str(key), _TIER_KEYS)}")
        if isinstance(tier.get("above_input_tokens"), bool) or not isinstance(
                tier.get("above_input_tokens"), int) or tier["above_input_tokens"] < 0:
            raise ConfigurationError(f"{setting}.tiers[{i}].above_input_tokens must be a "
                                     f"whole number of tokens, 0 or more")
    for key in ("input", "output", "cached_input", "cache_write", "reasoning"):
        if key in entry:
            _rate(f"{setting}.{key}", entry[key])
    for i, tier in enumerate(tiers):
        for key in ("input", "output", "cached_input"):
            if key in tier:
                _rate(f"{setting}.tiers[{i}].{key}", tier[key])
    try:
        return structure_config({"source": "config", **entry}, Pricing, what=setting)
    except ConfigurationError:
        raise
    except AIError as exc:  # Pricing says ValidationError for what it refuses
        raise ConfigurationError(f"{setting}: {exc.message}") from None


def _rate(setting: str, value: Any) -> None:
    """Raise ConfigurationError unless ``value`` is a price: a number or numeric string,
    finite, from 0 to 1e9 dollars per million tokens."""
    from decimal import Decimal, InvalidOperation

    wanted = f"{setting} must be a price in dollars per million tokens, from 0 to 1e9"
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ConfigurationError(f"{wanted}, not {_brief(value)}")
    try:
        rate = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):  # ValueError: an int past 4,300 digits
        raise ConfigurationError(f"{wanted}, not {_brief(value)}") from None
    if not rate.is_finite() or rate < 0 or rate > 10**9:
        raise ConfigurationError(f"{wanted}, not {_brief(value)}")


def check_json_setting(setting: str, value: Any) -> None:
    """Raise ConfigurationError naming ``setting`` unless ``value`` can be sent as JSON (for
    driver options copied into request bodies: a TOML date, ``nan`` or ``inf`` cannot)."""
    from jtd_ai.errors import ValidationError
    from jtd_ai.request import check_json

    try:
        check_json(value, setting)
    except ValidationError as exc:
        raise ConfigurationError(f"{exc.message}; it is sent in requests as JSON") from None


# -- unknown keys -------------------------------------------------------------------------------


def check_options(config: ProviderConfig, declared: Iterable[str] | None, *,
                  driver: str | None = None) -> None:
    """Raise ConfigurationError for a key of ``config.options`` that neither the core nor
    the driver knows, suggesting the nearest known name (``retry_attemps`` ->
    ``retry_attempts``). ``declared`` is the driver's own option names
    (:attr:`jtd_ai.ChatProtocol.config_options`); None means the driver declares none, and
    then its options are accepted, with a warning for a key that looks like a misspelled
    core setting."""
    core = _KNOWN_KEYS | CORE_OPTIONS
    known = core | frozenset(declared or ())
    unknown = [key for key in config.options if key not in known]
    if not unknown:
        return
    driver = driver or config.driver
    if declared is None:
        for key in unknown:
            close = difflib.get_close_matches(str(key), sorted(core), n=1, cutoff=0.8)
            if close:
                log.warning("providers.%s: key %r is not a setting of the core; did you "
                            "mean %r? Driver %r declares no option names, so it is passed "
                            "to the driver as an option", config.name, key, close[0], driver)
        return
    key = str(unknown[0])
    own = sorted(frozenset(declared))
    raise ConfigurationError(
        f"providers.{config.name}: unknown key {key!r}{_nearest(key, known)}. Settings: "
        f"{', '.join(sorted(core))}; options of driver {driver!r}: "
        f"{', '.join(own) or 'none'}")


# -- settings and the file ----------------------------------------------------------------------


@frozen
class Settings:
    """What the file and explicit arguments say, before drivers fill in their defaults.
    Its repr masks keys, header values and URL passwords."""

    default: str | None = None
    providers: Mapping[str, Mapping[str, Any]] = field(factory=dict, repr=_providers_repr)
    source: Path | None = None
    #: The top-level ``[store]``, ``[pricing]`` and ``[budget]`` tables, by name.
    tables: Mapping[str, Mapping[str, Any]] = field(factory=dict, repr=masked)


def config_file_path(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path | None:
    """The config file that applies, or None when there is none."""
    env = os.environ if env is None else env
    explicit = env.get("JTD_AI_CONFIG")
    if explicit:
        try:
            path = Path(explicit).expanduser()
            is_file = path.is_file()
        except (OSError, ValueError, RuntimeError):  # NUL bytes, no home for ~user
            raise ConfigurationError(
                f"JTD_AI_CONFIG={explicit!r} is not a usable file path") from None
        if not is_file:
            raise ConfigurationError(f"JTD_AI_CONFIG points to {path}, which is not a file")
        return path
    local = (cwd or Path.cwd()) / "jtd-ai.toml"
    if local.is_file():
        return local
    user = _user_config_dir(env) / "config.toml"
    try:
        return user if user.is_file() else None
    except (OSError, ValueError):
        return None


def _user_config_dir(env: Mapping[str, str]) -> Path:
    if sys.platform == "win32" and env.get("APPDATA"):
        return Path(env["APPDATA"]) / "jtd-ai"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "jtd-ai"
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "jtd-ai"


def read_config_file(path: Path) -> Settings:
    """The settings of one TOML file; a ConfigurationError naming the file for anything
    that cannot be read (not UTF-8, not TOML, nested too deeply, unknown top-level names)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"config file {path} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset "
            f"{exc.start}); save it as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"config file {path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigurationError(
            f"config file {path} nests arrays or tables too deeply to be read") from None
    return settings_from_data(data, source=path)


def settings_from_data(data: Mapping[str, Any], *, source: Path | None = None) -> Settings:
    """Settings from the parsed content of a config file (a dict as TOML gives it)."""
    where = f"config file {source}" if source is not None else "configuration"
    for key in data:
        if key not in _TOP_LEVEL:
            raise ConfigurationError(
                f"{where}: unknown top-level key {key!r}{_nearest(key, _TOP_LEVEL)}; known: "
                f"{', '.join(_TOP_LEVEL)} (a provider's settings go under [providers.NAME])")
    providers = data.get("providers", {})
    if not isinstance(providers, dict) or not all(isinstance(v, dict) for v in providers.values()):
        raise ConfigurationError(
            f"{where}: [providers.NAME] tables expected, e.g. [providers.openai]"
        )
    default = data.get("default")
    if default is not None and not isinstance(default, str):
        raise ConfigurationError(f"{where}: default must be a provider name")
    tables = {name: data[name] for name in TABLES if name in data}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigurationError(f"{where}: [{name}] must be a table")
    return Settings(default=default, providers=providers, source=source, tables=tables)


def check_tables(what: str, tables: Any) -> dict[str, dict[str, Any]]:
    """``tables`` (``{name: {key: value}}``, from code) as plain dicts, or a
    ConfigurationError naming ``what``."""
    if tables is None:
        return {}
    if not isinstance(tables, Mapping):
        raise ConfigurationError(f"{what} must be a mapping of name to a table (dict), not "
                                 f"{_type_name(tables)}")
    result: dict[str, dict[str, Any]] = {}
    for name, table in tables.items():
        if not isinstance(name, str):
            raise ConfigurationError(f"{what}: names must be strings, not {_type_name(name)}")
        if not isinstance(table, Mapping):
            raise ConfigurationError(f"{what}[{name!r}] must be a table (dict), not "
                                     f"{_type_name(table)}")
        for key in table:
            if not isinstance(key, str):
                raise ConfigurationError(f"{what}[{name!r}]: keys must be strings, not "
                                         f"{_type_name(key)}")
        result[name] = dict(table)
    return result


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
    providers = check_tables("providers", providers)
    tables = check_tables("tables", tables)
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        raise ConfigurationError(f"unknown table {unknown[0]!r}"
                                 f"{_nearest(unknown[0], TABLES)}; known: {', '.join(TABLES)}")
    if default is not None and not isinstance(default, str):
        raise ConfigurationError(f"default must be a provider name, not {_type_name(default)}")
    if config_file is False:
        file_settings = Settings()
    elif config_file is None or config_file is True:
        path = config_file_path(env)
        file_settings = read_config_file(path) if path is not None else Settings()
    elif isinstance(config_file, str | Path):
        file_settings = read_config_file(Path(config_file))
    else:
        raise ConfigurationError(f"config_file must be a path, False or None, not "
                                 f"{_type_name(config_file)}")
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in file_settings.providers.items()}
    for name, values in providers.items():
        merged.setdefault(name, {}).update(values)
    merged_tables: dict[str, dict[str, Any]] = {
        k: dict(v) for k, v in file_settings.tables.items()}
    for name, values in tables.items():
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
    base_url_env_path: str = "",
    option_env: Mapping[str, str] | None = None,
) -> ProviderConfig:
    """A ProviderConfig from its file/explicit ``values``, falling back to env and defaults.

    ``api_key_env`` may name several variables, tried in order (``GOOGLE_API_KEY`` then
    ``GEMINI_API_KEY``, as Google's SDK does); ``default_port`` completes a base-URL variable
    given as a bare host (``OLLAMA_HOST=gpu-box`` means port 11434, as Ollama's own client
    reads it) and ``base_url_env_path`` is added to it (``GOOGLE_GEMINI_BASE_URL`` is a root;
    the SDK adds ``/v1beta``). ``option_env`` names variables that fill driver options the
    values leave unset (``{"organization": "OPENAI_ORG_ID"}``)."""
    where = f"providers.{name}"
    data = {k: v for k, v in values.items() if k in _KNOWN_KEYS}
    options = {k: v for k, v in values.items() if k not in _KNOWN_KEYS}
    data.setdefault("driver", name)
    given_env = data.get("api_key_env")
    if given_env is not None and (not isinstance(given_env, str) or not given_env):
        raise ConfigurationError(f"{where}.api_key_env must name an environment variable, "
                                 f"not {masked(given_env)}")
    candidates = ([given_env] if given_env else
                  [api_key_env] if isinstance(api_key_env, str) else list(api_key_env or ()))
    key_env = next((v for v in candidates if env.get(v)), candidates[0] if candidates else None)
    if data.get("api_key") is None and key_env and env.get(key_env):
        data["api_key"] = env[key_env]
        if isinstance(data["api_key"], str):
            check_key(data["api_key"], f"${key_env} (the API key of provider {name!r})")
    if data.get("base_url") is None:
        from_env = env.get(base_url_env) if base_url_env else None
        if from_env:
            url = _normalise_url(from_env, default_port, base_url_env)
            if base_url_env_path:
                url = url.rstrip("/") + "/" + base_url_env_path.strip("/")
            data["base_url"] = check_url(url, f"${base_url_env} (the base URL of provider "
                                              f"{name!r})")
        else:
            data["base_url"] = default_base_url
    for option, variable in (option_env or {}).items():
        if option not in options and env.get(variable):
            options[option] = env[variable]
    if data.get("default_model") is None and default_model:
        data["default_model"] = default_model
    data["api_key_env"] = key_env
    data["name"] = name
    data["options"] = options
    try:
        return ProviderConfig(**data)
    except AIError:
        raise
    except Exception as exc:  # a value no check foresaw: still a typed error, naming it
        from jtd_ai.secret import redact

        raise ConfigurationError(f"{where}: invalid configuration ({type(exc).__name__}: "
                                 f"{redact(str(exc))[:200]})") from None


def _normalise_url(value: str, default_port: int | None = None,
                   variable: str | None = None) -> str:
    """A URL from a variable that may hold ``host``, ``host:port`` or a full URL."""
    scheme, sep, _ = value.partition("://")
    if sep:
        if scheme.lower() not in ("http", "https"):
            raise ConfigurationError(
                f"${variable or 'the base URL variable'} must be host, host:port or an "
                f"http:// or https:// URL, not a {scheme}:// URL")
        return value
    host, _, path = value.partition("/")
    if default_port is not None and not host.startswith("[") and ":" not in host:
        host = f"{host}:{default_port}"
    return f"http://{host}" + (f"/{path}" if path else "")

"""One provider's network policy, built once and handed to httpx and aiohttp alike.

TLS trust, proxies, credentials in URLs and size caps are decided here, so a sync call
(httpx) and an async call (aiohttp) to the same provider behave the same way
(docs/configuration.md, "Network").
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from jtd_ai import fork_gate
from jtd_ai.backends import Limits, proxy_for
from jtd_ai.errors import ConfigurationError

if TYPE_CHECKING:
    import ssl

    from jtd_ai.config import ProviderConfig

__all__ = ["Network", "basic_auth", "split_credentials"]

log = logging.getLogger("jtd_ai.network")


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without its ``user:password@`` part, and the user and password it held
    (percent-decoded), so they can be sent as Basic auth and never shown."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    bare = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return bare, unquote(user), unquote(password) if password else None


def basic_auth(user: str, password: str | None) -> str:
    """An ``Authorization``/``Proxy-Authorization`` value for Basic auth."""
    token = base64.b64encode(f"{user}:{password or ''}".encode()).decode("ascii")
    return f"Basic {token}"


def _remember(secret: str | None) -> None:
    if secret:
        from jtd_ai.secret import Secret

        Secret(secret)  # remembered, so redact() strips it from any text


class Network:
    """TLS, proxy and size settings of one provider (see :class:`ProviderConfig`)."""

    def __init__(self, config: ProviderConfig) -> None:
        self.provider = config.name
        self.base_url = split_credentials(config.base_url or "")[0]
        self.verify = config.verify
        self.ca_bundle = config.ca_bundle
        self.trust_store = config.trust_store
        self.limits = Limits(config.max_response_size, config.max_line_size)
        self._proxy = config.proxy
        if config.proxy:
            password = split_credentials(config.proxy)[2]
            _remember(password)
            if not config.proxy.lower().startswith(("http://", "https://")):
                raise ConfigurationError(
                    f"providers.{config.name}.proxy must be an http:// or https:// URL")
        self._ssl: ssl.SSLContext | None = None
        self._lock = threading.Lock()

    def proxy(self, url: str) -> str | None:
        """The proxy for ``url``: the ``proxy`` setting (``""``: none), else the
        environment's (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, minus ``NO_PROXY``)."""
        if self._proxy is not None:
            return self._proxy or None
        found = proxy_for(url)
        if found:
            _remember(split_credentials(found)[2])
        return found

    @property
    def explicit_proxy(self) -> str | None:
        """The ``proxy`` setting: ``""`` turns the environment's off, None defers to it."""
        return self._proxy

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context both libraries use, built on first use (loading CAs is slow).
        Built where no fork happens: OpenSSL's locks held then would hang the child."""
        if self._ssl is None:
            with fork_gate.held(), self._lock:  # the lock inside: no fork copies it held
                if self._ssl is None:
                    self._ssl = self._build_ssl()
        return self._ssl

    def _build_ssl(self) -> ssl.SSLContext:
        import ssl

        if not self.verify:
            log.warning("%s: TLS certificates are NOT checked (verify = false): anyone on the "
                        "network path can read and change this provider's traffic",
                        self.provider)
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        if self.trust_store == "system":
            import truststore

            context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if self.ca_bundle:
                self._load(context, self.ca_bundle, f"providers.{self.provider}.ca_bundle")
            return context
        # As httpx: certifi's bundle alone, unless a bundle or SSL_CERT_FILE/DIR names others.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # hostname and chain checked
        sources = ([(self.ca_bundle, f"providers.{self.provider}.ca_bundle")] if self.ca_bundle
                   else [(os.environ.get(name), name) for name in ("SSL_CERT_FILE",
                                                                    "SSL_CERT_DIR")])
        sources = [(where, setting) for where, setting in sources if where]
        if not sources:
            import certifi

            sources = [(certifi.where(), "certifi")]
        for where, setting in sources:
            self._load(context, where, setting)
        return context

    @staticmethod
    def _load(context: ssl.SSLContext, where: str, setting: str) -> None:
        import ssl

        path = os.path.expanduser(where)
        try:
            if os.path.isdir(path):
                context.load_verify_locations(capath=path)
            else:
                context.load_verify_locations(cafile=path)
        except FileNotFoundError:
            raise ConfigurationError(f"{setting} names {where}, which does not exist") from None
        except (ssl.SSLError, OSError) as exc:
            raise ConfigurationError(f"{setting} names {where}, which holds no usable CA "
                                     f"certificates ({type(exc).__name__})") from None

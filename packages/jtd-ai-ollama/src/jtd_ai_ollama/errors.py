"""Ollama's error body ``{"error": "<message>"}`` as our typed errors.

A 404 naming a model becomes ModelNotFoundError telling the user to ``ollama pull`` it; a
404 that is not JSON means the URL is not an Ollama API (a wrong ``base_url``); a 401 is a
cloud model or ollama.com without credentials. Everything else follows the status (503 "server
busy" is retried as ProviderUnavailableError).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from jtd_ai.errors import InvalidCredentialsError, ModelNotFoundError, ProviderError

if TYPE_CHECKING:
    from jtd_ai.protocol import ChatProtocol
    from jtd_ai.wire import HttpResponse

__all__ = ["error_from_response"]

# "model 'llama3.2' not found" (handlers) and 'model "x" not found, try pulling it first'.
_MODEL_NOT_FOUND = re.compile(r"""model\s+['"]([^'"]+)['"]\s+not found""")


def error_from_response(protocol: ChatProtocol, response: HttpResponse) -> ProviderError:
    """The typed error for an HTTP reply with status >= 400."""
    message = _message(response.content)
    provider = protocol.provider
    where = protocol.config.base_url or "(no base_url)"
    common: dict[str, Any] = {"provider": provider, "status": response.status,
                              "body": response.content}
    if message is None:
        text = response.text.strip()[:200] or f"HTTP {response.status}"
        if response.status == 404:
            return ProviderError(
                f"{provider}: {response.url or where} is not an Ollama API endpoint (HTTP 404: "
                f"{text}). Check base_url: it is the server root, e.g. http://localhost:11434",
                **common,
            )
        return protocol.error_for_status(response, text)
    if response.status == 404:
        match = _MODEL_NOT_FOUND.search(message)
        if match:
            model = match.group(1)
            return ModelNotFoundError(
                f"{provider}: model {model!r} is not on the Ollama server at {where}: run "
                f"`ollama pull {model}` (or pick one from get_available_models()). The server "
                f"said: {message}", **common,
            )
    if response.status in (401, 403):
        return InvalidCredentialsError(
            f"{provider} refused the request ({message}). ollama.com needs an API key "
            f"(OLLAMA_API_KEY or api_key); a local server using cloud models needs "
            f"`ollama signin`.", **common,
        )
    return protocol.error_for_status(response, message)


def _message(content: bytes) -> str | None:
    try:
        data = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        error: str = data["error"]
        return error
    return None

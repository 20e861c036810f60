"""The clients the benchmark knows, without importing any of their libraries.

Each entry names the module that drives one client in a fresh process (``python -m
clients.<module> <scenario> <base_url>``), the import statement its ``import`` scenario
times, and the modules that must be installed for it to run. run.py reads this table; a
client whose modules are missing is reported as not installed.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

__all__ = ["CLIENTS", "SCENARIOS", "ClientInfo", "by_name"]

#: Every scenario, in the order runs and tables use. The peak RSS comes from ``batch``.
SCENARIOS = ("import", "sequential", "stream", "batch")


@dataclass(frozen=True)
class ClientInfo:
    """One client: what runs it, what it needs, which scenarios it takes part in."""

    name: str
    label: str
    module: str
    import_code: str
    needs: tuple[str, ...]
    distributions: tuple[str, ...]
    scenarios: tuple[str, ...] = SCENARIOS
    #: What the row is for, shown beside it in the tables.
    note: str = ""

    def missing(self) -> list[str]:
        """The needed modules that cannot be found (nothing is imported to find out)."""
        return [name for name in self.needs if importlib.util.find_spec(name) is None]


CLIENTS: tuple[ClientInfo, ...] = (
    ClientInfo("httpx", "bare httpx", "clients.httpx_client", "import httpx",
               ("httpx",), ("httpx",)),
    ClientInfo("aiohttp", "bare aiohttp (async floor)", "clients.aiohttp_client",
               "import aiohttp", ("aiohttp",), ("aiohttp",), ("import", "batch")),
    ClientInfo("jtd-ai", "jtd-ai (OpenAI driver, usage ledger on)", "clients.jtd_ai_client",
               "import jtd_ai; jtd_ai.AI.drivers()", ("jtd_ai", "jtd_ai_openai"),
               ("jtd-ai-core", "jtd-ai-openai")),
    ClientInfo("jtd-ai-noledger", "jtd-ai, store off", "clients.jtd_ai_noledger",
               "import jtd_ai; jtd_ai.AI.drivers()", ("jtd_ai", "jtd_ai_openai"),
               ("jtd-ai-core", "jtd-ai-openai"), ("sequential", "stream", "batch"),
               note="what the usage ledger costs: compare with the jtd-ai row"),
    ClientInfo("openai", "official openai SDK (default HTTP client)", "clients.openai_sdk",
               "import openai", ("openai",), ("openai",)),
    ClientInfo("openai-aiohttp", "official openai SDK on aiohttp (DefaultAioHttpClient)",
               "clients.openai_aiohttp",
               "from openai import AsyncOpenAI, DefaultAioHttpClient",
               ("openai", "aiohttp"), ("openai", "aiohttp"), ("import", "batch"),
               note="the SDK's fastest async setup (openai[aiohttp]); async only"),
    ClientInfo("litellm", "litellm", "clients.litellm_client", "import litellm",
               ("litellm",), ("litellm",)),
)


def by_name(name: str) -> ClientInfo:
    for client in CLIENTS:
        if client.name == name:
            return client
    known = ", ".join(c.name for c in CLIENTS)
    raise KeyError(f"unknown client {name!r}; known: {known}")

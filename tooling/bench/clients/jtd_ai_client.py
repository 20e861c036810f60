"""jtd-ai through its OpenAI driver, with the usage ledger on (as an application runs it).

A provider ``bench`` (driver ``openai``) points at the fake server; the store is a fresh
SQLite file in a temporary folder, so each call also writes its ledger row, and the check
after the measured part makes sure every call left one. Sequential: ``send_message``.
Stream: iterating ``driver.stream``. Batch: ``send_batch`` at the given concurrency.
Call plugins installed from other distributions (jtd-ai-otel in the dev venv) are off: the
client measures what ``pip install 'jtd-ai[openai]'`` gives; hook_cost.py measures the hook.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from typing import Any, ClassVar

from jtd_ai import AIError, AIManager
from jtd_ai.plugins import plugin_listings

from clients.harness import Client, StreamRun, main
from payloads import API_KEY, MODEL, PROMPT, WrongReply


class JtdAIClient(Client):
    name = "jtd-ai"
    #: Whether the store (catalog and usage ledger) is on.
    ledger: ClassVar[bool] = True

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.home = tempfile.mkdtemp(prefix="jtd-ai-bench-")
        store: dict[str, Any] = ({"path": os.path.join(self.home, "jtd-ai.db")}
                                 if self.ledger else {"enabled": False})
        self.ai = AIManager(
            providers={"bench": {"driver": "openai", "base_url": base_url,
                                 "api_key": API_KEY, "default_model": MODEL}},
            default="bench", config_file=False, env={}, store=store,
            plugins={p.name: {"enabled": False} for p in plugin_listings() if p.distribution},
        )
        self.driver = self.ai.driver("bench")
        self.calls = 0

    def send(self) -> str:
        self.calls += 1
        return self.driver.send_message(PROMPT).content

    def stream(self, chunks: int) -> StreamRun:
        self.calls += 1
        parts: list[str] = []
        first = 0.0
        started = time.perf_counter()
        stream = self.driver.stream(PROMPT, max_tokens=chunks)
        for chunk in stream:
            delta = chunk.delta
            if delta:
                if not parts:
                    first = time.perf_counter()
                parts.append(delta)
        finished = time.perf_counter()
        usage = stream.response.usage if stream.response is not None else None
        tokens = usage.output_tokens if usage is not None else None
        return StreamRun("".join(parts), started, first, finished, tokens)

    def batch(self, prompts: list[str], concurrency: int) -> list[str]:
        self.calls += len(prompts)
        results = self.driver.send_batch(prompts, concurrency=concurrency)
        contents: list[str] = []
        for result in results:
            if isinstance(result, AIError):
                raise result
            contents.append(result.content)
        return contents

    def check(self) -> None:
        if not self.ledger:
            return
        rows = self.ai.usage.total().calls
        if rows != self.calls:
            raise WrongReply(f"the usage ledger has {rows} rows for {self.calls} calls")

    def close(self) -> None:
        self.ai.close()
        shutil.rmtree(self.home, ignore_errors=True)


if __name__ == "__main__":
    main(JtdAIClient)

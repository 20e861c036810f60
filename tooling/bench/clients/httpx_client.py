"""Bare httpx: the baseline for sync requests, streams, import time and memory.

Sequential: one ``httpx.Client`` posting JSON and reading ``.json()``. Stream:
``client.stream`` + ``iter_lines`` + strip ``data: `` + ``json.loads``, read to the end so
the connection is reused. Batch: one ``httpx.AsyncClient`` (its pool sized to the
concurrency, as anyone running a batch would) driven by that many worker tasks.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from clients.harness import Client, StreamRun, main
from clients.workers import run_workers
from payloads import API_KEY, chat_body, stream_body

HEADERS = {"Authorization": f"Bearer {API_KEY}"}


class HttpxClient(Client):
    name = "httpx"

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.url = f"{base_url}/chat/completions"
        self._sync: httpx.Client | None = None

    @property
    def sync(self) -> httpx.Client:
        if self._sync is None:
            self._sync = httpx.Client(headers=HEADERS, timeout=60)
        return self._sync

    def send(self) -> str:
        response = self.sync.post(self.url, json=chat_body())
        response.raise_for_status()
        content: str = response.json()["choices"][0]["message"]["content"]
        return content

    def stream(self, chunks: int) -> StreamRun:
        parts: list[str] = []
        first = 0.0
        tokens: int | None = None
        loads = json.loads
        started = time.perf_counter()
        with self.sync.stream("POST", self.url, json=stream_body(chunks)) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                event: dict[str, Any] = loads(line[6:])
                choices = event["choices"]
                if choices:
                    content = choices[0]["delta"].get("content")
                    if content:
                        if not parts:
                            first = time.perf_counter()
                        parts.append(content)
                elif event.get("usage"):
                    tokens = event["usage"]["completion_tokens"]
        return StreamRun("".join(parts), started, first, time.perf_counter(), tokens)

    def batch(self, prompts: list[str], concurrency: int) -> list[str]:
        return asyncio.run(self._batch(prompts, concurrency))

    async def _batch(self, prompts: list[str], concurrency: int) -> list[str]:
        limits = httpx.Limits(max_connections=concurrency,
                              max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(headers=HEADERS, timeout=60, limits=limits) as client:
            async def one(prompt: str) -> str:
                response = await client.post(self.url, json=chat_body(prompt))
                response.raise_for_status()
                content: str = response.json()["choices"][0]["message"]["content"]
                return content

            return await run_workers(prompts, concurrency, one)

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()


if __name__ == "__main__":
    main(HttpxClient)

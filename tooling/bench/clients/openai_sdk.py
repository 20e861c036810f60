"""The official openai SDK: ``OpenAI`` for sequential calls and streams, ``AsyncOpenAI``
driven by worker tasks for the batch; default settings otherwise, as most apps use it."""

from __future__ import annotations

import asyncio
import time

from openai import AsyncOpenAI, OpenAI

from clients.harness import Client, StreamRun, main
from clients.workers import run_workers
from payloads import API_KEY, MODEL, PROMPT


class OpenAISDKClient(Client):
    name = "openai"

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self._sync: OpenAI | None = None

    @property
    def sync(self) -> OpenAI:
        if self._sync is None:
            self._sync = OpenAI(base_url=self.base_url, api_key=API_KEY)
        return self._sync

    def send(self) -> str:
        reply = self.sync.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": PROMPT}])
        return reply.choices[0].message.content or ""

    def stream(self, chunks: int) -> StreamRun:
        parts: list[str] = []
        first = 0.0
        tokens: int | None = None
        started = time.perf_counter()
        stream = self.sync.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": PROMPT}], max_tokens=chunks,
            stream=True, stream_options={"include_usage": True})
        for chunk in stream:
            if chunk.choices:
                content = chunk.choices[0].delta.content
                if content:
                    if not parts:
                        first = time.perf_counter()
                    parts.append(content)
            elif chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
        return StreamRun("".join(parts), started, first, time.perf_counter(), tokens)

    def batch(self, prompts: list[str], concurrency: int) -> list[str]:
        return asyncio.run(self._batch(prompts, concurrency))

    async def _batch(self, prompts: list[str], concurrency: int) -> list[str]:
        async with AsyncOpenAI(base_url=self.base_url, api_key=API_KEY) as client:
            async def one(prompt: str) -> str:
                reply = await client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": prompt}])
                return reply.choices[0].message.content or ""

            return await run_workers(prompts, concurrency, one)

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()


if __name__ == "__main__":
    main(OpenAISDKClient)

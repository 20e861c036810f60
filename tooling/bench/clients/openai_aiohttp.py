"""The official openai SDK in its fastest async setup: ``AsyncOpenAI`` with
``http_client=DefaultAioHttpClient()`` (``pip install openai[aiohttp]``), the SDK's own
answer for high-concurrency async work, driven by worker tasks for the batch.

Async only, so it takes part in the batch (and the import, which is ``import openai``'s:
the SDK imports its aiohttp adapter whenever aiohttp is installed). The client's defaults
are the SDK's (timeout, connection limits, redirects), as an application following its
README gets them; jtd-ai's batch is compared with this row.
"""

from __future__ import annotations

import asyncio

from openai import AsyncOpenAI, DefaultAioHttpClient

from clients.harness import Client, main
from clients.workers import run_workers
from payloads import API_KEY, MODEL


class OpenAIAiohttpClient(Client):
    name = "openai-aiohttp"

    def batch(self, prompts: list[str], concurrency: int) -> list[str]:
        return asyncio.run(self._batch(prompts, concurrency))

    async def _batch(self, prompts: list[str], concurrency: int) -> list[str]:
        async with AsyncOpenAI(base_url=self.base_url, api_key=API_KEY,
                               http_client=DefaultAioHttpClient()) as client:
            async def one(prompt: str) -> str:
                reply = await client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": prompt}])
                return reply.choices[0].message.content or ""

            return await run_workers(prompts, concurrency, one)


if __name__ == "__main__":
    main(OpenAIAiohttpClient)

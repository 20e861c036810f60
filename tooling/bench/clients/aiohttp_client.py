"""Bare aiohttp: the async floor a batch is measured against.

One ``ClientSession`` (connector limit = the concurrency) and that many worker tasks, each
posting JSON and reading ``.json()``. aiohttp has no sync API, so it runs no sequential or
stream scenario.
"""

from __future__ import annotations

import asyncio

import aiohttp

from clients.harness import Client, main
from clients.workers import run_workers
from payloads import API_KEY, chat_body


class AiohttpClient(Client):
    name = "aiohttp"

    def batch(self, prompts: list[str], concurrency: int) -> list[str]:
        return asyncio.run(self._batch(prompts, concurrency))

    async def _batch(self, prompts: list[str], concurrency: int) -> list[str]:
        url = f"{self.base_url}/chat/completions"
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector, headers={
                "Authorization": f"Bearer {API_KEY}"}) as session:
            async def one(prompt: str) -> str:
                async with session.post(url, json=chat_body(prompt)) as response:
                    response.raise_for_status()
                    data = await response.json()
                    content: str = data["choices"][0]["message"]["content"]
                    return content

            return await run_workers(prompts, concurrency, one)


if __name__ == "__main__":
    main(AiohttpClient)

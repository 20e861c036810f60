"""litellm (optional: large, not in requirements-bench.txt): ``completion`` for sequential
calls and streams, ``acompletion`` driven by worker tasks for the batch, the model routed as
``openai/gpt-4o-mini`` to the fake server's ``api_base``."""

from __future__ import annotations

import asyncio
import importlib
import os
import time
from typing import Any, cast

from clients.harness import Client, StreamRun, main
from clients.workers import run_workers
from payloads import API_KEY, MODEL, messages

#: Keep litellm from downloading its model price map at import (run.py sets it too).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


class LitellmClient(Client):
    name = "litellm"

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        # Imported by name: litellm is optional and untyped for our purposes.
        self.litellm = cast(Any, importlib.import_module("litellm"))
        self.litellm.telemetry = False
        self.litellm.suppress_debug_info = True
        self.options: dict[str, Any] = {"model": f"openai/{MODEL}", "api_base": base_url,
                                        "api_key": API_KEY}

    def send(self) -> str:
        reply = self.litellm.completion(messages=messages(), **self.options)
        content: str = reply.choices[0].message.content or ""
        return content

    def stream(self, chunks: int) -> StreamRun:
        parts: list[str] = []
        first = 0.0
        tokens: int | None = None
        started = time.perf_counter()
        stream = self.litellm.completion(messages=messages(), max_tokens=chunks, stream=True,
                                         stream_options={"include_usage": True},
                                         **self.options)
        for chunk in stream:
            if chunk.choices:
                content = chunk.choices[0].delta.content
                if content:
                    if not parts:
                        first = time.perf_counter()
                    parts.append(content)
            usage = getattr(chunk, "usage", None)
            if usage is not None and usage.completion_tokens:
                tokens = usage.completion_tokens
        return StreamRun("".join(parts), started, first, time.perf_counter(), tokens)

    def batch(self, prompts: list[str], concurrency: int) -> list[str]:
        async def one(prompt: str) -> str:
            reply = await self.litellm.acompletion(messages=messages(prompt), **self.options)
            content: str = reply.choices[0].message.content or ""
            return content

        return asyncio.run(run_workers(prompts, concurrency, one))


if __name__ == "__main__":
    main(LitellmClient)

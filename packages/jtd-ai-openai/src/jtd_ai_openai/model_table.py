"""What OpenAI says about its chat models: context window, output limit, capabilities.

``/v1/models`` returns ids only, so these facts come from OpenAI's model pages
(developers.openai.com/api/docs/models/<id>), read 2026-11-24. Where a page did not say,
the field is None (unknown). Models not listed here still appear in listings, unknown.
"""

from __future__ import annotations

import datetime as dt

from jtd_ai.modelinfo import Capabilities
from jtd_ai_openai.catalog import ModelFacts, ModelTable

__all__ = ["OPENAI_MODELS"]


def _chat(context: int | None, output: int | None, *, vision: bool | None = True,
          reasoning: bool, structured: bool | None = True) -> ModelFacts:
    return ModelFacts(
        context_length=context, max_output_tokens=output,
        capabilities=Capabilities(streaming=True, tools=True, vision=vision, json_mode=True,
                                  structured_output=structured, reasoning=reasoning,
                                  system_prompt=True),
    )


OPENAI_MODELS = ModelTable(
    source="developers.openai.com/api/docs/models",
    as_of=dt.date(2026, 11, 24),
    models={
        "gpt-4o-mini": _chat(128_000, 16_384, reasoning=False),
        "gpt-4o": _chat(128_000, 16_384, reasoning=False),
        "gpt-4.1": _chat(1_047_576, 32_768, reasoning=False),
        "gpt-4.1-mini": _chat(1_047_576, 32_768, reasoning=False),
        "gpt-4.1-nano": _chat(1_047_576, 32_768, reasoning=False),
        "gpt-5": _chat(400_000, 128_000, reasoning=True),
        "gpt-5-mini": _chat(400_000, 128_000, reasoning=True),
        "gpt-5-nano": _chat(400_000, 128_000, reasoning=True),
        "gpt-5.1": _chat(400_000, 128_000, reasoning=True),
        "gpt-5.4": _chat(1_050_000, 128_000, reasoning=True),
        "gpt-5.4-mini": _chat(400_000, None, reasoning=True),
        "o1": _chat(200_000, 100_000, reasoning=True),
        "o3": _chat(200_000, 100_000, reasoning=True),
        "o3-mini": _chat(200_000, 100_000, vision=False, reasoning=True),
        "o4-mini": _chat(200_000, 100_000, reasoning=True),
        "gpt-3.5-turbo": _chat(16_385, 4_096, vision=False, reasoning=False, structured=False),
    },
    aliases={"chatgpt-4o-latest": "gpt-4o"},
)

"""A child process for the resume-after-kill tests: runs one provider batch job against the
fake server and prints each result (content, or the error's type) as a JSON list.

``python batch_job_child.py SERVER_URL STORE_PATH PROVIDER MODEL INPUT PROMPT...``
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> None:
    url, store, provider, model, mode, *prompts = argv
    from jtd_ai import AIManager
    from jtd_ai.jobs import run_batch_job

    suffix = {"openai": "/v1", "gemini": "/v1beta"}[provider]
    ai = AIManager(providers={provider: {"base_url": url + suffix, "api_key": "key-child",
                                         "timeout": 60}},
                   config_file=False, env={}, store={"path": store})
    results = run_batch_job(ai.driver(provider), prompts, model=model, input=mode,
                            poll_interval=0.01, max_poll_interval=0.05)
    sys.stdout.write(json.dumps([r.content if hasattr(r, "content") else type(r).__name__
                                 for r in results]) + "\n")
    sys.stdout.flush()
    ai.close()


if __name__ == "__main__":
    main(sys.argv[1:])

"""A child process for the collection race tests: collects one stored provider batch run
from the fake server into the given store (a SQLite path or a PostgreSQL URL) and prints
its results (content, or the error's type) as a JSON list.

``python batch_collect_child.py SERVER_URL STORE PROVIDER RUN_ID``
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> None:
    url, store_url, provider, run_id = argv
    from jtd_ai import AIManager
    from jtd_ai.jobs import collect_batch_job
    from jtd_ai.store import open_store

    suffix = {"openai": "/v1", "gemini": "/v1beta"}[provider]
    store = open_store(store_url)
    with AIManager(providers={provider: {"base_url": url + suffix, "api_key": "key-child",
                                         "timeout": 60}},
                   config_file=False, env={}, store={"enabled": False}) as ai:
        results = collect_batch_job(ai.driver(provider), run_id, store=store,
                                    poll_interval=0.01, max_poll_interval=0.05)
    store.close()
    sys.stdout.write(json.dumps([r.content if hasattr(r, "content") else type(r).__name__
                                 for r in results]) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])

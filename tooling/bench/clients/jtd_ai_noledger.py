"""jtd-ai with its store off: the same calls as jtd_ai_client, so the two rows side by side
show what the usage ledger costs per call."""

from __future__ import annotations

from clients.harness import main
from clients.jtd_ai_client import JtdAIClient


class JtdAINoLedgerClient(JtdAIClient):
    name = "jtd-ai-noledger"
    ledger = False


if __name__ == "__main__":
    main(JtdAINoLedgerClient)

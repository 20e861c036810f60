"""The mutation suite: seeded defects the conformance kit must catch (see test_mutation.py).

Puts this folder on ``sys.path`` (tests run with --import-mode=importlib) and prints the
catch rate at the end of the run (``-v``: which kit test caught each defect)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    from mutants import MUTANTS, VERDICTS

    verdicts = config.stash.get(VERDICTS, None)
    if not verdicts:
        return
    caught = [m for m in MUTANTS if verdicts.get(m.name)]
    escaped = [m for m in MUTANTS if m.name in verdicts and not verdicts[m.name]]
    judged = len(caught) + len(escaped)
    terminalreporter.section("jtd-ai conformance kit: mutation suite")
    terminalreporter.line(f"caught {len(caught)} of {judged} seeded defects "
                          f"({100 * len(caught) / judged:.0f}%)")
    for m in escaped:
        terminalreporter.line(f"ESCAPED  {m.name}: {m.defect}")
    if config.get_verbosity() > 0:
        for m in caught:
            first = verdicts[m.name][0].split("::")[-1]
            terminalreporter.line(f"caught   {m.name} by {first}")

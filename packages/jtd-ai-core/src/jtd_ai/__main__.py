"""``python -m jtd_ai`` and the ``jtd-ai`` script: the command line (see :mod:`jtd_ai.cli`),
which needs the ``cli`` extra (click, rich)."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    try:
        from jtd_ai.cli import main as run
    except ImportError as exc:
        print(f"the jtd-ai command line needs its extra: pip install 'jtd-ai-core[cli]' "
              f"(or 'jtd-ai'); {exc}", file=sys.stderr)
        sys.exit(2)
    run()


if __name__ == "__main__":
    main()

"""``python -m jtd_ai``: the ``jtd-ai`` command line (see :mod:`jtd_ai.cli`)."""

from __future__ import annotations

from jtd_ai.cli import main

if __name__ == "__main__":
    main()

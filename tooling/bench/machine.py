"""What a run ran on: CPU, cores, memory, OS, Python, package versions and the commit, so a
table can always be read next to the machine that produced it."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["describe"]

#: Distributions whose versions a reader needs to reproduce the numbers.
#: (jtd-ai runs on httpx and aiohttp; the openai SDK on httpx2, or aiohttp with its extra.)
PACKAGES = ("jtd-ai-core", "jtd-ai-openai", "httpx", "httpcore", "h11", "anyio", "aiohttp",
            "yarl", "multidict", "uvloop", "openai", "httpx2", "httpcore2", "litellm",
            "pyinstrument")


def _proc_value(path: str, key: str) -> str | None:
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def cpu_model() -> str:
    return (_proc_value("/proc/cpuinfo", "model name") or platform.processor()
            or platform.machine() or "unknown")


def memory_gb() -> float | None:
    total = _proc_value("/proc/meminfo", "MemTotal")  # "16314124 kB"
    return round(int(total.split()[0]) / 2**20, 1) if total else None


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def git_commit(root: Path) -> str | None:
    """The commit, with ``+changes`` when the work tree differs from it."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, check=True,
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit}+changes" if dirty.strip() else commit


def describe(root: Path) -> dict[str, Any]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": cpu_model(), "cores": os.cpu_count(), "usable_cores": usable,
        "memory_gb": memory_gb(), "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": versions(), "commit": git_commit(root),
    }

"""What the store adds to a process's first chat call, on each engine (docs/performance.md).

Each sample is a fresh interpreter that builds a manager on the echo provider (no network
call to a provider) and times its first ``send_message`` and the flush of its ledger row,
with the store off, on a SQLite file, and on a PostgreSQL database on loopback (already
migrated, as a deployed application finds it). The PostgreSQL server is the tests' throwaway
cluster (packages/jtd-ai-core/tests/helpers/pg_cluster.py), started here and stopped at the
end. Usage: ``.venv/bin/python tooling/store_first_call.py [rounds]``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packages/jtd-ai-core/tests/helpers"))

SAMPLE = """
import json, sys, time
t0 = time.perf_counter()
import jtd_ai
t1 = time.perf_counter()
store = json.loads(sys.argv[1])
ai = jtd_ai.AIManager(providers={"echo": {}}, default="echo", config_file=False, env={},
                      store=store)
driver = ai.driver()
t2 = time.perf_counter()
driver.send_message("a")
t3 = time.perf_counter()
ai.storage.flush()
t4 = time.perf_counter()
loaded = sorted(m for m in ("sqlite3", "psycopg") if m in sys.modules)
print(json.dumps({"import": t1 - t0, "first_call": t3 - t2, "flushed": t4 - t2,
                  "loaded": loaded}))
ai.close()
"""


def sample(store: dict[str, object]) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", SAMPLE, json.dumps(store)], check=True,
                         capture_output=True, text=True).stdout
    result: dict[str, object] = json.loads(out.splitlines()[-1])
    return result


def main() -> None:
    from pg_cluster import PgCluster, find_bindir

    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("no PostgreSQL binaries: apt-get install postgresql")
    cluster = PgCluster(bindir)
    cluster.start()
    try:
        url = cluster.new_database()
        with tempfile.TemporaryDirectory() as tmp:
            stores: dict[str, dict[str, object]] = {
                "off": {"enabled": False},
                "sqlite": {"path": str(Path(tmp) / "jtd-ai.db")},
                "postgresql": {"url": url},
            }
            sample(stores["sqlite"])  # create and migrate both first
            sample(stores["postgresql"])
            results: dict[str, list[dict[str, object]]] = {name: [] for name in stores}
            for _ in range(rounds):
                for name, store in stores.items():
                    results[name].append(sample(store))
    finally:
        cluster.stop()
    print(f"median of {rounds} fresh processes, ms (first call / first call + its row "
          f"written)")
    for name, samples in results.items():
        first = statistics.median(float(str(s["first_call"])) for s in samples) * 1000
        flushed = statistics.median(float(str(s["flushed"])) for s in samples) * 1000
        print(f"{name:>10}: {first:7.1f} / {flushed:7.1f}   loaded: {samples[0]['loaded']}")


if __name__ == "__main__":
    main()

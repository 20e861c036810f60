#!/usr/bin/env bash
# Build every distribution of the repository into dist/ and check it: the meta-package jtd-ai
# (the root pyproject.toml) and each package under packages/, each as an sdist and a wheel
# built from that sdist (so a file missing from an sdist breaks the build here, not for a
# user). Then `twine check --strict` (metadata, and the README as the package index renders
# it) and the checks below. Needs ./.venv with build and twine (bash tooling/setup-dev.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
"$PY" -c 'import build, twine' 2>/dev/null || {
  echo "build-dists: $PY lacks build or twine; run: bash tooling/setup-dev.sh" >&2; exit 2; }

# Each package ships its own copy of the root LICENSE (hatchling takes LICENSE* from the
# package's own folder): the copies must not drift.
for pkg in packages/*/; do
  cmp -s LICENSE "${pkg}LICENSE" || { echo "build-dists: ${pkg}LICENSE differs from LICENSE" >&2; exit 1; }
done

rm -rf dist
mkdir dist
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for project in . packages/*/; do
  project=${project%/}
  echo "build $project"
  "$PY" -m build --outdir dist "$project" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
done

"$PY" -m twine check --strict dist/*

# Every sdist holds only its own project's files (the meta-package only its metadata), every
# distribution carries the LICENSE, and the jtd-ai packages built together satisfy each
# other's version ranges.
"$PY" - <<'EOF'
import email
import sys
import tarfile
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

dist = Path("dist")
problems: list[str] = []
built: dict[str, Version] = {}
requires: list[tuple[str, Requirement]] = []
print(f"{'distribution':45} {'bytes':>8} {'files':>5}")
for path in sorted(dist.iterdir()):
    if path.name.endswith(".tar.gz"):
        with tarfile.open(path) as tar:
            names = [m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()]
        # hatchling always adds the nearest .gitignore and the project's hatch.toml.
        allowed_top = {"PKG-INFO", "pyproject.toml", "LICENSE", "README.md", "README.pypi.md",
                       ".gitignore", "hatch.toml"}
        strays = [n for n in names if n not in allowed_top and not n.startswith("src/")]
        if path.name.startswith("jtd_ai-"):  # the meta-package: metadata only
            strays += [n for n in names if n.startswith("src/")]
        problems += [f"{path.name}: unexpected file {n}" for n in strays]
        if "LICENSE" not in names:
            problems.append(f"{path.name}: no LICENSE")
    elif path.suffix == ".whl":
        with zipfile.ZipFile(path) as whl:
            names = whl.namelist()
            info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
            meta = email.message_from_bytes(whl.read(f"{info}/METADATA"))
        if f"{info}/licenses/LICENSE" not in names or meta["License-File"] != "LICENSE":
            problems.append(f"{path.name}: no LICENSE")
        if meta["License-Expression"] != "MIT":
            problems.append(f"{path.name}: License-Expression is {meta['License-Expression']}")
        built[canonicalize_name(meta["Name"])] = Version(meta["Version"])
        requires += [(path.name, Requirement(r)) for r in meta.get_all("Requires-Dist") or []]
    else:
        problems.append(f"unexpected {path.name}")
        continue
    print(f"{path.name:45} {path.stat().st_size:>8} {len(names):>5}")
for source, req in requires:
    name = canonicalize_name(req.name)
    if name.startswith("jtd-ai") and name in built and built[name] not in req.specifier:
        problems.append(f"{source}: requires {req}, but {name} {built[name]} was built")
for problem in problems:
    print("build-dists:", problem, file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
echo "build-dists: $(ls dist | wc -l) distributions in dist/, checked"

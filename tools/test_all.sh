#!/usr/bin/env bash
# Runs the whole test suite under Deno and under Bun and prints one closing
# line, "N passed, N failed", adding up both runtimes.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=node_modules/.bin
if [ ! -x "$bin/deno" ] || [ ! -x "$bin/bun" ]; then
  echo "deno and bun come from npm: run 'npm install' first" >&2
  exit 2
fi
mkdir -p .tsbpf-tmp
deno_log=.tsbpf-tmp/deno_test.log
bun_log=.tsbpf-tmp/bun_test.log

echo "== deno test"
NO_COLOR=1 "$bin/deno" test -A tests/ 2>&1 | tee "$deno_log"
deno_rc=${PIPESTATUS[0]}
echo "== bun test"
NO_COLOR=1 "$bin/bun" test --timeout 120000 ./tests 2>&1 | tee "$bun_log"
bun_rc=${PIPESTATUS[0]}

# deno: "ok | 12 passed (3 steps) | 0 failed (1s)"; bun: " 12 pass" / " 0 fail".
deno_pass=$(grep -Eo '[0-9]+ passed' "$deno_log" | tail -n1 | grep -Eo '[0-9]+' || echo 0)
deno_fail=$(grep -Eo '[0-9]+ failed' "$deno_log" | tail -n1 | grep -Eo '[0-9]+' || echo 0)
bun_pass=$(grep -Eo '^ *[0-9]+ pass$' "$bun_log" | tail -n1 | grep -Eo '[0-9]+' || echo 0)
bun_fail=$(grep -Eo '^ *[0-9]+ fail$' "$bun_log" | tail -n1 | grep -Eo '[0-9]+' || echo 0)
# A runner that crashed before counting still counts as a failure.
[ "$deno_rc" -ne 0 ] && [ "$deno_fail" -eq 0 ] && deno_fail=1
[ "$bun_rc" -ne 0 ] && [ "$bun_fail" -eq 0 ] && bun_fail=1

echo "deno: $deno_pass passed, $deno_fail failed; bun: $bun_pass passed, $bun_fail failed"
echo "$((deno_pass + bun_pass)) passed, $((deno_fail + bun_fail)) failed"
[ "$deno_rc" -eq 0 ] && [ "$bun_rc" -eq 0 ]

#!/usr/bin/env bash
# The test command: type-check, then every property file under properties/ with
# uvu. GPU properties need an X server for headless GL, so the suite runs under
# xvfb-run when it is installed. Ends with one line "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== type-check (tsc --noEmit, and the page: tsc --noEmit -p web)"
if npx tsc --noEmit && npx tsc --noEmit -p web; then tc_pass=1; tc_fail=0; echo "type-check passed"; else tc_pass=0; tc_fail=1; echo "type-check FAILED"; fi

runner=()
if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null 2>&1; then
  runner=(xvfb-run -a -s "-screen 0 1280x1024x24")
fi
pattern="${1:-\\.test\\.ts$}"
echo "== properties ${runner[*]:+(under ${runner[*]})}"
"${runner[@]}" node --import tsx node_modules/uvu/bin.js properties "$pattern" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

total=$(sed -n 's/^ *Total: *\([0-9]*\).*/\1/p' "$log" | tail -1)
passed=$(sed -n 's/^ *Passed: *\([0-9]*\).*/\1/p' "$log" | tail -1)
skipped=$(sed -n 's/^ *Skipped: *\([0-9]*\).*/\1/p' "$log" | tail -1)
total=${total:-0}; passed=${passed:-0}; skipped=${skipped:-0}
failed=$((total - passed))  # uvu's Total counts the tests that ran; skipped ones are not in it
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi  # crashed before uvu could count
echo
echo "$((passed + tc_pass)) passed, $((failed + tc_fail)) failed, ${skipped} skipped"
[ "$failed" -eq 0 ] && [ "$tc_fail" -eq 0 ]

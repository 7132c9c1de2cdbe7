#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's main job, checked: runs scripts/demo on a build directory and
# requires the transcript to show both contacts connected, both messages
# delivered (✓✓) on the sender's side, and the same security code on both.
# Usage: tests/demo_test.sh BUILD_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(timeout 120 "$root/scripts/demo" "$1" 2>&1) || {
	echo "$out"
	echo "demo_test: scripts/demo failed" >&2
	exit 1
}
fail() {
	echo "$out"
	echo "demo_test: $*" >&2
	exit 1
}
grep -q '^    connected: Bob$' <<<"$out" || fail "alice never saw bob connected"
grep -q '^    connected: Alice$' <<<"$out" || fail "bob never saw alice connected"
grep -q 'me: Hi Bob, this is Alice. Did it work? ✓✓$' <<<"$out" || fail "alice's message not delivered"
grep -q 'me: It did! Nobody but you can read this. ✓✓$' <<<"$out" || fail "bob's message not delivered"
codes=$(grep -A1 '^\(alice\|bob\)\$ sotto verify' <<<"$out" | grep -E '^    [0-9]{5}( [0-9]{5}){11}$' | sort -u)
[ "$(wc -l <<<"$codes")" = 1 ] && [ -n "$codes" ] || fail "security codes missing or different"
echo "demo_test: transcript complete"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# relay_daemon_test.sh - the real sotto-relay binary, end to end on
# loopback: init prints an address and refuses to overwrite its key,
# address prints it again, run serves NEW and PING to a real client over
# the real transport (relay_ping), stats prints the counters, SIGTERM
# drains and exits 0, logs carry no address or key, bad command lines exit
# 2 and a bad configuration exits 1 naming its line. As root the daemon is
# also made to switch to "nobody". Every wait is bounded; nothing asserts on
# timing.
#
# usage: relay_daemon_test.sh SOTTO_RELAY RELAY_PING
set -u

relay=$1
ping=$2
n_checks=0
pid=

tmp=$(mktemp -d /tmp/sotto-relay-e2e-XXXXXX)
chmod 755 "$tmp" # the daemon may run as nobody below
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	for f in "$tmp"/*.log; do
		[ -f "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }
	done
	exit 1
}

check() { # check DESCRIPTION: counts a check that passed
	n_checks=$((n_checks + 1))
	echo "ok $n_checks - $1"
}

# expect_exit CODE DESCRIPTION CMD...: runs CMD (bounded), stdout to $tmp/out, stderr to $tmp/err.
expect_exit() {
	local want=$1 what=$2
	shift 2
	timeout 60 "$@" >"$tmp/out" 2>"$tmp/err"
	local got=$?
	[ "$got" -eq "$want" ] || fail "$what: exit $got, want $want; stderr: $(cat "$tmp/err")"
	check "$what"
}

# wait_for DESCRIPTION CONDITION...: polls CONDITION for up to 30 s.
wait_for() {
	local what=$1
	shift
	for _ in $(seq 300); do
		"$@" && return 0
		sleep 0.1
	done
	fail "timed out waiting for $what"
}

stat_value() { # stat_value NAME: the value of one line of "sotto-relay stats"
	timeout 30 "$relay" stats --dir "$dir" 2>/dev/null | awk -v k="$1" '$1 == k { print $2 }'
}

dir=$tmp/relay
user_args=()
if [ "$(id -u)" -eq 0 ]; then
	user_args=(--user nobody)
fi

# --- help and usage ---------------------------------------------------------
expect_exit 0 "--help lists every command" "$relay" --help
for c in init run stats address help; do
	grep -q "^  $c " "$tmp/out" || fail "--help does not list $c"
done
expect_exit 0 "help run prints its usage and the configuration keys" "$relay" help run
grep -q '^usage: sotto-relay run' "$tmp/out" || fail "help run: no usage line"
grep -q '^quota = 128$' "$tmp/out" || fail "help run: no configuration defaults"
grep -q '^idle_timeout_s = 600$' "$tmp/out" || fail "help run: no idle timeout default"
expect_exit 0 "--version" "$relay" --version
grep -q '^sotto-relay [0-9]' "$tmp/out" || fail "--version: $(cat "$tmp/out")"
expect_exit 2 "unknown command exits 2" "$relay" frobnicate
expect_exit 2 "unknown option exits 2" "$relay" init --dir "$dir" --frobnicate 1
expect_exit 2 "bad option value exits 2" "$relay" init --dir "$dir" --quota 0
grep -q 'quota' "$tmp/err" || fail "bad value: $(cat "$tmp/err")"
[ ! -e "$dir" ] || fail "a refused init created $dir"

# --- init -------------------------------------------------------------------
expect_exit 0 "init prints the address" \
	"$relay" init --dir "$dir" --host 127.0.0.1 --port 5223 --stats-interval-s 1 "${user_args[@]}"
addr=$(cat "$tmp/out")
[[ $addr =~ ^sotto://([A-Za-z0-9_-]{43})@127\.0\.0\.1:5223$ ]] || fail "init printed \"$addr\""
key=${BASH_REMATCH[1]}
[ "$(stat -c %a "$dir")" = 700 ] || fail "data directory mode $(stat -c %a "$dir")"
[ "$(stat -c %a "$dir/key")" = 600 ] || fail "key mode $(stat -c %a "$dir/key")"
check "data directory 0700, key 0600"
keysum=$(sha256sum "$dir/key")
expect_exit 1 "init refuses to overwrite the key" "$relay" init --dir "$dir"
grep -q 'already holds a relay key' "$tmp/err" || fail "second init: $(cat "$tmp/err")"
[ "$(sha256sum "$dir/key")" = "$keysum" ] || fail "second init changed the key"
expect_exit 0 "init --exist-ok prints the same address" "$relay" init --dir "$dir" --exist-ok
[ "$(cat "$tmp/out")" = "$addr" ] || fail "init --exist-ok printed $(cat "$tmp/out")"
expect_exit 0 "address prints the same address" "$relay" address --dir "$dir"
[ "$(cat "$tmp/out")" = "$addr" ] || fail "address printed $(cat "$tmp/out")"
expect_exit 1 "stats before any run fails" "$relay" stats --dir "$dir"

# --- refusals of run ----------------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then
	expect_exit 1 "run as root without a user is refused" "$relay" run --dir "$dir" --user ""
	grep -q 'root' "$tmp/err" || fail "root refusal: $(cat "$tmp/err")"
fi
cp "$dir/config" "$tmp/bad.conf"
printf 'quota = 5\nttl_dayz = 3\n' >>"$tmp/bad.conf"
expect_exit 1 "a bad configuration names its line" \
	"$relay" run --dir "$dir" --config "$tmp/bad.conf"
line=$(($(wc -l <"$tmp/bad.conf") - 1))
grep -q "bad.conf:$line: quota: key given twice" "$tmp/err" || fail "bad config: $(cat "$tmp/err")"
expect_exit 2 "a bad --listen exits 2" "$relay" run --dir "$dir" --listen localhost:1
expect_exit 2 "an idle timeout out of range exits 2" "$relay" run --dir "$dir" --idle-timeout-s 0
grep -q -e '--idle-timeout-s.*out of range (1..86400)' "$tmp/err" ||
	fail "bad idle timeout: $(cat "$tmp/err")"

# --- run, serve, stats, SIGTERM ------------------------------------------------
"$relay" run --dir "$dir" --port 0 2>"$tmp/daemon.log" &
pid=$!
running() { [ "$(stat_value state)" = running ]; }
wait_for "the daemon to write its stats file" running
check "run writes the stats file"
port=$(stat_value port)
[[ $port =~ ^[1-9][0-9]*$ ]] || fail "stats port \"$port\""
[ "${#user_args[@]}" -eq 0 ] || [ "$(stat -c %U "$dir/stats")" = nobody ] ||
	fail "stats file owned by $(stat -c %U "$dir/stats"): the switch to nobody did not happen"

expect_exit 0 "a client gets IDS and PONG over the real transport" \
	"$ping" "sotto://$key@127.0.0.1:$port"
grep -q '^PONG$' "$tmp/out" || fail "no PONG: $(cat "$tmp/out")"
expect_exit 1 "a client pinning another key is refused" \
	"$ping" "sotto://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@127.0.0.1:$port"

counted() { [ "$(stat_value connections)" = 1 ] && [ "$(stat_value queues)" = 1 ]; }
wait_for "stats to count the connection and the queue" counted
expect_exit 0 "stats prints the counters" "$relay" stats --dir "$dir"
for k in state connections clients queues messages messages_in messages_out; do
	grep -q "^$k " "$tmp/out" || fail "stats has no $k"
done

kill -TERM "$pid"
for _ in $(seq 300); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "the daemon did not stop after SIGTERM"
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 0 ] || fail "the daemon exited $rc after SIGTERM"
check "SIGTERM drains and exits 0"
[ "$(stat_value state)" = stopped ] || fail "stats after stop: $(stat_value state)"
check "stats says stopped"

grep -q 'listening on port' "$tmp/daemon.log" || fail "no listening line in the log"
if grep -q -e "$key" -e '127\.0\.0\.1' "$tmp/daemon.log"; then
	fail "the log carries the key or an address"
fi
check "the log carries no key and no address"

echo "all $n_checks checks passed"

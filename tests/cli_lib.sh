# SPDX-License-Identifier: MIT
#
# cli_lib.sh - shared by the end-to-end tests of the sotto program
# (cli_test.sh, cli_json_test.sh, cli_tmux_test.sh): a temporary directory,
# a real sotto-relay on a free loopback port, bounded runs of the real
# sotto binary with profiles under a temporary home, and checks that count.
# Sourced, not run. Every wait is bounded; nothing asserts on timing.
#
# The caller sets: sotto (the binary), relay (the sotto-relay binary).

n_checks=0
relay_pid=
bg_pids=()

tmp=$(mktemp -d /tmp/sotto-cli-e2e-XXXXXX)
home=$tmp/home
export TZ=UTC
export LC_ALL=C.UTF-8
unset SOTTO_PASSPHRASE XDG_DATA_HOME

cli_cleanup() {
	local p
	for p in "${bg_pids[@]}" $relay_pid; do
		{ kill -KILL "$p" && wait "$p"; } 2>/dev/null
	done
	[ -n "${cli_extra_cleanup:-}" ] && $cli_extra_cleanup
	rm -rf "$tmp"
}
trap cli_cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	for f in "$tmp"/*.log "$tmp"/out "$tmp"/err; do
		[ -f "$f" ] && { echo "--- $f" >&2; tail -n 40 "$f" >&2; }
	done
	exit 1
}

check() { # check DESCRIPTION: counts a check that passed
	n_checks=$((n_checks + 1))
	echo "ok $n_checks - $1"
}

# s PROFILE ARGS...: the real sotto on PROFILE, bounded; stdin from /dev/null.
s() {
	local p=$1
	shift
	timeout 120 "$sotto" --home "$home" --profile "$p" "$@" </dev/null
}

# expect_exit CODE DESCRIPTION CMD...: runs CMD, stdout to $tmp/out, stderr to $tmp/err.
expect_exit() {
	local want=$1 what=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	local got=$?
	[ "$got" -eq "$want" ] ||
		fail "$what: exit $got, want $want; stdout: $(cat "$tmp/out"); stderr: $(cat "$tmp/err")"
	check "$what"
}

out_has() { # out_has TEXT: stdout of the last expect_exit holds TEXT (fixed string)
	grep -qF -- "$1" "$tmp/out" || fail "stdout lacks \"$1\": $(cat "$tmp/out")"
}

err_has() { # err_has TEXT: stderr of the last expect_exit holds TEXT (fixed string)
	grep -qF -- "$1" "$tmp/err" || fail "stderr lacks \"$1\": $(cat "$tmp/err")"
}

# wait_for DESCRIPTION CONDITION...: polls CONDITION for up to 60 s.
wait_for() {
	local what=$1
	shift
	for _ in $(seq 600); do
		"$@" && return 0
		sleep 0.1
	done
	fail "timed out waiting for $what"
}

stat_value() { # stat_value NAME: one line of "sotto-relay stats"
	timeout 30 "$relay" stats --dir "$tmp/relay" 2>/dev/null | awk -v k="$1" '$1 == k { print $2 }'
}

# relay_start: a real relay on a free loopback port; sets relay_addr.
relay_start() {
	if [ ! -d "$tmp/relay" ]; then
		timeout 60 "$relay" init --dir "$tmp/relay" --host 127.0.0.1 --port 5223 \
			--stats-interval-s 1 >"$tmp/relay.addr" 2>"$tmp/relay-init.log" ||
			fail "sotto-relay init"
	fi
	local root_args=()
	[ "$(id -u)" -eq 0 ] && root_args=(--allow-root) # relay_daemon_test covers the user switch
	"$relay" run --dir "$tmp/relay" --port "${relay_port:-0}" "${root_args[@]}" \
		2>>"$tmp/relay.log" &
	relay_pid=$!
	relay_running() { [ "$(stat_value state)" = running ]; }
	wait_for "the relay to start" relay_running
	relay_port=$(stat_value port)
	local key
	key=$(sed -n 's|^sotto://\([^@]*\)@.*$|\1|p' "$tmp/relay.addr")
	relay_addr="sotto://$key@127.0.0.1:$relay_port"
}

relay_stop() {
	kill -TERM "$relay_pid"
	for _ in $(seq 300); do
		kill -0 "$relay_pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$relay_pid" 2>/dev/null
	relay_pid=
}

# profile NAME DISPLAY: a profile without passphrase using the relay.
profile() {
	s "$1" init --no-passphrase --name "$2" >/dev/null 2>"$tmp/err" || fail "init $1: $(cat "$tmp/err")"
	s "$1" relay add "$relay_addr" >/dev/null 2>"$tmp/err" || fail "relay add $1: $(cat "$tmp/err")"
}

# state_of PROFILE NAME: the state column of "sotto contacts" for NAME.
state_of() {
	s "$1" contacts 2>/dev/null | awk -v n="$2" '{
		line = $0
		sub(/^#[0-9]+ +[a-z]+ +/, "", line)
		sub(/  \(calls themselves .*$/, "", line)
		if (line == n) print $2
	}'
}

# --- several relays (rstart R, rstat R NAME; the caller stops them) ----------------
# Each relay R lives in $tmp/relay-R, logs to $tmp/relay-R.log, and is
# killed at exit. rpid[R], rport[R] and raddr[R] (its sotto:// address).
declare -A rpid rport raddr

relays_cleanup() {
	local r
	for r in "${!rpid[@]}"; do
		[ -n "${rpid[$r]}" ] && { kill -KILL "${rpid[$r]}" && wait "${rpid[$r]}"; } 2>/dev/null
	done
}
cli_extra_cleanup=relays_cleanup

rstat() { # rstat R NAME: one line of "sotto-relay stats" of relay R
	timeout 30 "$relay" stats --dir "$tmp/relay-$1" 2>/dev/null | awk -v k="$2" '$1 == k { print $2 }'
}

# rstart R: relay R on a free loopback port the first time, on the same
# directory and port after that; sets rport[R] and raddr[R].
rstart() {
	local r=$1 root_args=()
	if [ ! -d "$tmp/relay-$r" ]; then
		timeout 60 "$relay" init --dir "$tmp/relay-$r" --host 127.0.0.1 --port 5223 \
			--stats-interval-s 1 >"$tmp/relay-$r.addr" 2>"$tmp/relay-$r-init.log" ||
			fail "sotto-relay init $r"
	fi
	rm -f "$tmp/relay-$r/stats"
	[ "$(id -u)" -eq 0 ] && root_args=(--allow-root)
	"$relay" run --dir "$tmp/relay-$r" --port "${rport[$r]:-0}" "${root_args[@]}" \
		2>>"$tmp/relay-$r.log" &
	rpid[$r]=$!
	local ok=
	for _ in $(seq 300); do
		[ "$(rstat "$r" state)" = running ] && { ok=1 && break; }
		kill -0 "${rpid[$r]}" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$ok" ] || fail "relay $r did not start"
	local port key
	port=$(rstat "$r" port)
	[ -z "${rport[$r]:-}" ] || [ "$port" = "${rport[$r]}" ] ||
		fail "relay $r came back on port $port, not ${rport[$r]}"
	rport[$r]=$port
	key=$(sed -n 's|^sotto://\([^@]*\)@.*$|\1|p' "$tmp/relay-$r.addr")
	raddr[$r]="sotto://$key@127.0.0.1:$port"
}

# recv_bg PROFILE LOG [SECONDS]: a background "receive" of PROFILE into LOG
# for at most SECONDS (default 60; bounded by --wait, not by timeout(1), so
# that SIGTERM reaches sotto itself); sets bgpid.
recv_bg() {
	"$sotto" --home "$home" --profile "$1" receive --wait "${3:-60}" </dev/null >"$2" 2>&1 &
	bgpid=$!
	bg_pids+=("$bgpid")
}

recv_stop() { # recv_stop PID PROFILE: ends a background receive, which must exit 0
	kill -TERM "$1"
	for _ in $(seq 300); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$1" 2>/dev/null && fail "$2's receive did not end on SIGTERM"
	local rc=0
	wait "$1" || rc=$?
	[ "$rc" -eq 0 ] || fail "$2's receive exited $rc after SIGTERM"
}

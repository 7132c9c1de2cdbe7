#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# netem_test.sh - sotto over a faulty network: hosts made of Linux network
# namespaces (alice, bob, relay1, relay2) joined by veth links to a router
# namespace, whose forwarded packets are impaired: 10% loss and a delay of
# 100 ms +- 50 ms (uniform), so packets also overtake each other. alice
# receives on relay1 and bob on relay2 (each adds only its own relay), so
# every message crosses the router twice. During a timed two-way burst,
# relay2 is cut off for 30 s (every packet to or from it dropped at the
# router) and then healed. The driver, client_crash_test with no kills,
# then waits (bounded) and checks that every message is shown exactly once,
# in order, per contact, with nothing done by hand.
#
# The links have an MTU of 9000 (jumbo frames), so that a 16 KiB transport
# frame is two packets rather than twelve; SOTTO_NET_MTU=1500 is harsher and
# slower.
#
# The impairment is tc netem on the router's links when the kernel has it,
# otherwise netimpair (tests/support/netimpair.c) on an NFQUEUE that the
# router's FORWARD chain feeds; the test prints which. Everything it makes
# (namespaces, links, rules, processes) is removed on every exit path.
#
# usage: netem_test.sh CLIENT_CRASH_TEST SOTTO SOTTO_RELAY [NETIMPAIR]
# Needs root (exit 77, "skipped", without it or without network namespaces).
# Environment (defaults in brackets): SOTTO_NET_N messages each way [200],
# SOTTO_NET_SECONDS length of the burst [40], SOTTO_NET_CUT_AT seconds into
# the burst the partition starts [5], SOTTO_NET_CUT_S its length [30],
# SOTTO_NET_SEED [1], SOTTO_NET_MTU of every link [9000], SOTTO_NET_LOSS
# percent [10], SOTTO_NET_DELAY and SOTTO_NET_JITTER in ms [100, 50],
# SOTTO_NET_IMPAIR=netem|netimpair to force a method [the first that works].
# The issue's figure is SOTTO_NET_N=1000 SOTTO_NET_SECONDS=60, a run of a few
# minutes: through these faults delivery falls to some ten messages a second
# (every message and its receipt wait on round trips of 200 ms or more and
# on retransmissions), and it catches up after the burst. CI runs 200.
set -euo pipefail

driver=$1 sotto=$2 relay=$3 netimpair=${4:-}
n=${SOTTO_NET_N:-200}
seconds=${SOTTO_NET_SECONDS:-40}
cut_at=${SOTTO_NET_CUT_AT:-5}
cut_s=${SOTTO_NET_CUT_S:-30}
seed=${SOTTO_NET_SEED:-1}
mtu=${SOTTO_NET_MTU:-9000}
loss=${SOTTO_NET_LOSS:-10} delay=${SOTTO_NET_DELAY:-100} jitter=${SOTTO_NET_JITTER:-50}

skip() {
	echo "netem_test: SKIPPED: $*"
	exit 77
}
fail() {
	echo "netem_test: FAIL: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, iptables)"
command -v ip >/dev/null || skip "needs ip (iproute2)"

pre=sotto-$$
hosts=(alice bob relay1 relay2)
router=$pre-router
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sotto-netem-XXXXXX")
driver_pid='' impair_pid='' made=()

in_ns() { # in_ns HOST CMD...: CMD in HOST's namespace
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

cleanup() {
	local rc=$? ns pid
	set +e
	[ -n "$driver_pid" ] && kill -KILL "$driver_pid" 2>/dev/null && wait "$driver_pid" 2>/dev/null
	if [ -n "$impair_pid" ]; then
		kill -TERM "$impair_pid" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$impair_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$impair_pid" 2>/dev/null
		wait "$impair_pid" 2>/dev/null
		grep -h "packets seen" "$tmp/netimpair.log" 2>/dev/null
	fi
	for ns in "${made[@]}"; do
		# Anything still inside a namespace of ours is ours: end it first.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	if [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; then
		rm -rf "$tmp"
	else
		echo "netem_test: logs kept in $tmp" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- the network ------------------------------------------------------------------
ip netns add "$router" 2>/dev/null || skip "cannot make a network namespace"
made+=("$router")
in_ns "$router" ip link set lo up
in_ns "$router" sysctl -qw net.ipv4.ip_forward=1
i=0
for h in "${hosts[@]}"; do
	i=$((i + 1))
	ns=$pre-$h
	ip netns add "$ns" || fail "ip netns add $ns"
	made+=("$ns")
	# One veth pair per host: eth0 in the host, to-HOST in the router.
	ip link add eth0 netns "$ns" mtu "$mtu" type veth peer name "to-$h" netns "$router" mtu "$mtu" ||
		skip "cannot make veth links"
	in_ns "$ns" ip link set lo up
	in_ns "$ns" ip addr add "10.77.$i.2/24" dev eth0
	in_ns "$ns" ip link set eth0 up
	in_ns "$ns" ip route add default via "10.77.$i.1"
	in_ns "$router" ip addr add "10.77.$i.1/24" dev "to-$h"
	in_ns "$router" ip link set "to-$h" up
done
# relay1 is 10.77.3.2, relay2 10.77.4.2.

# --- the impairment -----------------------------------------------------------------
use_netem() {
	local h
	for h in "${hosts[@]}"; do
		# Each packet leaves the router once, so it is impaired once.
		in_ns "$router" tc qdisc add dev "to-$h" root netem loss "$loss%" \
			delay "${delay}ms" "${jitter}ms" limit 100000 2>"$tmp/netem.err" || return 1
	done
}
use_netimpair() {
	[ -n "$netimpair" ] && [ -x "$netimpair" ] || return 1
	ip netns exec "$router" "$netimpair" --queue 0 --seed "$seed" --loss "$loss" \
		--delay "$delay" --jitter "$jitter" >"$tmp/netimpair.log" 2>&1 &
	impair_pid=$!
	for _ in $(seq 100); do
		grep -q "netimpair: ready" "$tmp/netimpair.log" && break
		kill -0 "$impair_pid" 2>/dev/null || break
		sleep 0.1
	done
	grep -q "netimpair: ready" "$tmp/netimpair.log" || {
		cat "$tmp/netimpair.log" >&2
		return 1
	}
	in_ns "$router" iptables -A FORWARD -j NFQUEUE --queue-num 0 2>"$tmp/iptables.err" || {
		cat "$tmp/iptables.err" >&2
		return 1
	}
}
method=
case ${SOTTO_NET_IMPAIR:-} in
netem) use_netem && method=netem ;;
netimpair) use_netimpair && method=netimpair ;;
*) if use_netem; then method=netem; elif use_netimpair; then method=netimpair; fi ;;
esac
if [ -z "$method" ]; then
	[ -s "$tmp/netem.err" ] && echo "netem_test: tc netem: $(head -1 "$tmp/netem.err")"
	skip "neither tc netem nor netimpair (NFQUEUE) can impair packets here"
fi
if [ "$method" = netem ]; then
	echo "netem_test: impairment by tc netem: loss $loss%, delay $delay ms +- $jitter ms"
else
	echo "netem_test: impairment by netimpair (no sch_netem in this kernel): loss $loss%," \
		"delay $delay ms +- $jitter ms, reordered"
fi
echo "netem_test: links of MTU $mtu; $n messages each way over $seconds s; relay2 cut off" \
	"$cut_at s into it for $cut_s s"

# --- the traffic ------------------------------------------------------------------
# The driver's own waits are bounded; this bound on the whole run (the
# connect, the burst, the settle and final waits) ends it before ctest would.
settle_s=$((200 + n / 2))
limit_s=$((120 + seconds + 2 * settle_s))
SOTTO_CLIENT_CRASH_N=$n SOTTO_CLIENT_CRASH_KILLS=0 SOTTO_CLIENT_CRASH_SEED=$seed \
	SOTTO_CLIENT_CRASH_SECONDS=$seconds SOTTO_CLIENT_CRASH_RELAYS=2 \
	SOTTO_CLIENT_CRASH_SETTLE_S="$settle_s" \
	SOTTO_CLIENT_CRASH_WRAP_ALICE="ip netns exec $pre-alice" \
	SOTTO_CLIENT_CRASH_WRAP_BOB="ip netns exec $pre-bob" \
	SOTTO_CLIENT_CRASH_WRAP_RELAY1="ip netns exec $pre-relay1" \
	SOTTO_CLIENT_CRASH_WRAP_RELAY2="ip netns exec $pre-relay2" \
	SOTTO_CLIENT_CRASH_HOST_RELAY1=10.77.3.2 SOTTO_CLIENT_CRASH_HOST_RELAY2=10.77.4.2 \
	"$driver" "$sotto" "$relay" >"$tmp/driver.out" 2>&1 &
driver_pid=$!

# The partition, timed from the start of the burst (bounded waits throughout).
for _ in $(seq 6000); do
	grep -q "burst starts" "$tmp/driver.out" && break
	kill -0 "$driver_pid" 2>/dev/null || break
	sleep 0.1
done
grep -q "burst starts" "$tmp/driver.out" || {
	cat "$tmp/driver.out" >&2
	fail "the burst did not start"
}
sleep "$cut_at"
partition() { # partition -I|-D: inserts or deletes the rules dropping relay2's packets
	in_ns "$router" iptables "$1" FORWARD -i to-relay2 -j DROP
	in_ns "$router" iptables "$1" FORWARD -o to-relay2 -j DROP
}
partition -I
echo "netem_test: relay2 cut off"
sleep "$cut_s"
partition -D
echo "netem_test: relay2 reachable again"

for _ in $(seq "$limit_s"); do
	kill -0 "$driver_pid" 2>/dev/null || break
	sleep 1
done
if kill -0 "$driver_pid" 2>/dev/null; then
	kill -TERM "$driver_pid" # its children die with it (parent-death signal)
	cat "$tmp/driver.out" >&2
	fail "the driver did not end in $limit_s s"
fi
set +e
wait "$driver_pid"
rc=$?
set -e
driver_pid=
grep -v "burst starts" "$tmp/driver.out"
[ "$rc" -eq 0 ] || fail "the driver failed (exit $rc)"
echo "netem_test: ok ($method)"

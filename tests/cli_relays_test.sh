#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# cli_relays_test.sh - three users on three real sotto-relay processes on
# loopback, through the real sotto program: alice uses only relay A, bob
# only relay B and carol only relay C, so every pair (alice-bob, alice-carol,
# bob-carol) crosses relays. Contacts made by invite, connect and receive;
# messages both ways waiting for "delivered"; relay B killed (SIGKILL) with
# a message of alice's in it, alice sending to bob while it is down (the
# message stays queued), relay B restarted on the same directory and port,
# after which bob has both exactly once, in order, and alice sees them
# delivered; a message stored with "--wait none" leaves with the sender's
# next run and shows once; alice deletes carol, carol is told, and her
# later send to alice is refused; bob deletes carol, and carol's send
# before she hears of it fails at relay B. Every wait is bounded; nothing
# asserts on timing.
#
# usage: cli_relays_test.sh SOTTO SOTTO_RELAY
set -u

sotto=$1
relay=$2
. "$(dirname "$0")/cli_lib.sh"

# --- three relays ----------------------------------------------------------------
rkill() { # rkill R SIGNAL: stops relay R with SIGNAL and reaps it (bounded)
	local r=$1 sig=$2
	{ # bash reports the killed job on stderr when it reaps it
		kill "-$sig" "${rpid[$r]}"
		for _ in $(seq 300); do
			kill -0 "${rpid[$r]}" || break
			sleep 0.1
		done
	} 2>/dev/null
	kill -0 "${rpid[$r]}" 2>/dev/null && fail "relay $r did not stop on SIG$sig"
	{ wait "${rpid[$r]}"; } 2>/dev/null
	rstatus=$?
	rpid[$r]=
}

for r in A B C; do rstart "$r"; done
if [ "${raddr[A]}" = "${raddr[B]}" ] || [ "${raddr[B]}" = "${raddr[C]}" ] ||
	[ "${raddr[A]}" = "${raddr[C]}" ]; then
	fail "relay addresses not distinct"
fi
check "three relays run on three loopback ports"

# --- profiles, one relay each --------------------------------------------------------
for u in alice:A bob:B carol:C; do
	p=${u%%:*} r=${u#*:}
	expect_exit 0 "init $p" s "$p" init --no-passphrase --name "${p^}"
	expect_exit 0 "$p uses only relay $r" s "$p" relay add "${raddr[$r]}"
	expect_exit 0 "relay list ($p)" s "$p" relay list
	[ "$(cat "$tmp/out")" = "${raddr[$r]}" ] || fail "relay list $p: $(cat "$tmp/out")"
done

# --- contacts across relays ----------------------------------------------------------
# pair INVITER JOINER: JOINER's name for INVITER is INVITER and the other way.
pair() {
	local a=$1 b=$2
	expect_exit 0 "$a invites $b" s "$a" invite --name "$b"
	local link
	link=$(cat "$tmp/out")
	[[ $link =~ ^sotto:[A-Za-z0-9_-]+$ ]] || fail "invite printed \"$link\""
	expect_exit 0 "$b joins $a's link" s "$b" connect "$link" --name "$a"
	out_has "joined #"
	recv_bg "$a" "$tmp/$a-recv.log"
	local pa=$bgpid
	recv_bg "$b" "$tmp/$b-recv.log"
	local pb=$bgpid
	both() {
		grep -qx "connected: $b" "$tmp/$a-recv.log" && grep -qx "connected: $a" "$tmp/$b-recv.log"
	}
	wait_for "$a and $b to connect" both
	recv_stop "$pa" "$a"
	recv_stop "$pb" "$b"
	[ "$(state_of "$a" "$b")" = connected ] || fail "$a does not list $b connected"
	[ "$(state_of "$b" "$a")" = connected ] || fail "$b does not list $a connected"
	check "$a and $b connected across relays, both sides say so"
}
pair alice bob
pair alice carol
pair carol bob

# send_delivered FROM TO TEXT: FROM sends TEXT to TO while TO runs receive.
send_delivered() {
	local from=$1 to=$2 text=$3
	recv_bg "$to" "$tmp/$to-recv.log"
	local pid=$bgpid
	expect_exit 0 "$from sends \"$text\" to $to, waiting until delivered" \
		s "$from" send "$to" "$text" --wait delivered --timeout 30
	[ "$(cat "$tmp/out")" = delivered ] || fail "send printed $(cat "$tmp/out")"
	has_text() { grep -qE "^[0-9]{2}:[0-9]{2} $from: $text\$" "$tmp/$to-recv.log"; }
	wait_for "$to to print \"$text\"" has_text
	recv_stop "$pid" "$to"
	[ "$(grep -cF -- ": $text" "$tmp/$to-recv.log")" -eq 1 ] ||
		fail "$to printed \"$text\" more than once: $(cat "$tmp/$to-recv.log")"
	check "$to printed \"$from: $text\" once"
}
send_delivered alice bob "a to b"
send_delivered bob alice "b to a"
send_delivered alice carol "a to c"
send_delivered carol alice "c to a"
send_delivered bob carol "b to c"
send_delivered carol bob "c to b"

# chat_count PROFILE PEER REGEX: lines of "chat PEER" matching REGEX
chat_count() {
	s "$1" chat "$2" --limit 1000 2>/dev/null | grep -cE -- "$3"
}

# --- relay B goes down mid-conversation ----------------------------------------------
expect_exit 0 "alice's message reaches relay B before it dies" \
	s alice send bob "before the crash" --wait sent --timeout 30
[ "$(cat "$tmp/out")" = sent ] || fail "send printed $(cat "$tmp/out")"
rkill B KILL
expect_exit 8 "send to bob with his relay down times out (exit 8)" \
	s alice send bob "while B is down" --wait sent --timeout 3
[ "$(cat "$tmp/out")" = queued ] || fail "send printed \"$(cat "$tmp/out")\", want queued"
check "the message stays queued"
[ "$(chat_count alice bob '^[0-9]{2}:[0-9]{2} me: while B is down …$')" -eq 1 ] ||
	fail "alice's chat: $(s alice chat bob)"
check "alice's chat shows it queued"
rstart B
check "relay B restarted on the same directory and port"
recv_bg bob "$tmp/bob-recv.log"
pb=$bgpid
recv_bg alice "$tmp/alice-recv.log"
pa=$bgpid
got_b() { grep -qE '^[0-9]{2}:[0-9]{2} alice: while B is down$' "$tmp/bob-recv.log"; }
got_b0() { grep -qE '^[0-9]{2}:[0-9]{2} alice: before the crash$' "$tmp/bob-recv.log"; }
wait_for "bob to receive what relay B held when it was killed" got_b0
wait_for "bob to receive the queued message" got_b
got_d() {
	grep -qx '✓✓ delivered to bob: "before the crash"' "$tmp/alice-recv.log" &&
		grep -qx '✓✓ delivered to bob: "while B is down"' "$tmp/alice-recv.log"
}
wait_for "alice to see it delivered" got_d
recv_stop "$pa" alice
recv_stop "$pb" bob
[ "$(grep -cE ': (before the crash|while B is down)$' "$tmp/bob-recv.log")" -eq 2 ] ||
	fail "bob's receive: $(cat "$tmp/bob-recv.log")"
[ "$(grep -oE '(before the crash|while B is down)$' "$tmp/bob-recv.log" | tr '\n' /)" = \
	"before the crash/while B is down/" ] || fail "out of order: $(cat "$tmp/bob-recv.log")"
[ "$(chat_count bob alice '^[0-9]{2}:[0-9]{2} alice: before the crash$')" -eq 1 ] ||
	fail "bob's chat: $(s bob chat alice)"
[ "$(chat_count bob alice '^[0-9]{2}:[0-9]{2} alice: while B is down$')" -eq 1 ] ||
	fail "bob's chat: $(s bob chat alice)"
[ "$(chat_count alice bob '^[0-9]{2}:[0-9]{2} me: (before the crash|while B is down) ✓✓$')" -eq 2 ] ||
	fail "alice's chat: $(s alice chat bob)"
check "after the restart bob has both exactly once, in order, and alice sees them delivered"
send_delivered bob alice "B is back"

# --- a client restart: stored now, sent by the next run ----------------------------------
expect_exit 0 "send --wait none only stores" s carol send alice "stored only" --wait none
[ "$(cat "$tmp/out")" = queued ] || fail "send --wait none printed $(cat "$tmp/out")"
[ "$(chat_count carol alice '^[0-9]{2}:[0-9]{2} me: stored only …$')" -eq 1 ] ||
	fail "carol's chat: $(s carol chat alice)"
check "carol's chat shows it queued"
recv_bg alice "$tmp/alice-recv.log"
pa=$bgpid
recv_bg carol "$tmp/carol-recv.log"
pc=$bgpid
got_a() { grep -qE '^[0-9]{2}:[0-9]{2} carol: stored only$' "$tmp/alice-recv.log"; }
wait_for "alice to receive the stored message" got_a
got_d() { grep -qx '✓✓ delivered to alice: "stored only"' "$tmp/carol-recv.log"; }
wait_for "carol to see it delivered" got_d
recv_stop "$pa" alice
recv_stop "$pc" carol
[ "$(chat_count alice carol '^[0-9]{2}:[0-9]{2} carol: stored only$')" -eq 1 ] ||
	fail "alice's chat: $(s alice chat carol)"
[ "$(chat_count carol alice '^[0-9]{2}:[0-9]{2} me: stored only ✓✓$')" -eq 1 ] ||
	fail "carol's chat: $(s carol chat alice)"
check "carol's next run sent it; alice's chat has it exactly once"

# --- alice deletes carol --------------------------------------------------------------
expect_exit 0 "alice deletes carol" s alice delete carol
out_has "deleted carol"
expect_exit 0 "alice's contacts" s alice contacts
grep -qE '^#[0-9]+ +[a-z]+ +carol  \(calls themselves Carol\)$' "$tmp/out" &&
	fail "contacts still lists carol: $(cat "$tmp/out")"
grep -qE '^#[0-9]+ +connected +bob  \(calls themselves Bob\)$' "$tmp/out" ||
	fail "contacts lost bob: $(cat "$tmp/out")"
check "alice's contacts no longer list carol, still list bob"
expect_exit 0 "alice's contacts --all" s alice contacts --all
grep -qE '^#[0-9]+ +deleted +carol  \(calls themselves Carol\)$' "$tmp/out" ||
	fail "contacts --all: $(cat "$tmp/out")"
: >"$tmp/carol-recv.log"
for _ in $(seq 10); do
	s carol receive --wait 2 >>"$tmp/carol-recv.log" 2>&1
	grep -q '^alice left' "$tmp/carol-recv.log" && break
done
grep -q '^alice left' "$tmp/carol-recv.log" || fail "carol was not told: $(cat "$tmp/carol-recv.log")"
check "carol is told that alice left"
expect_exit 0 "carol's contacts --all" s carol contacts --all
grep -qE '^#[0-9]+ +deleted +alice  \(calls themselves Alice\)$' "$tmp/out" ||
	fail "carol's contacts --all: $(cat "$tmp/out")"
expect_exit 1 "carol's later send to alice fails (exit 1)" s carol send alice "still there?" --timeout 10
[ ! -s "$tmp/out" ] || fail "send printed $(cat "$tmp/out")"
[ "$(cat "$tmp/err")" = "sotto: cannot send to alice: this contact was deleted (invite them again to talk)" ] ||
	fail "send's error: $(cat "$tmp/err")"
[ "$(chat_count carol alice 'still there')" -eq 0 ] || fail "carol's chat: $(s carol chat alice)"
check "the refused message is not stored"

# --- bob deletes carol, who sends before she hears of it -----------------------------------
expect_exit 0 "carol still reaches bob" s carol send bob "only you now" --timeout 10
[ "$(cat "$tmp/out")" = sent ] || fail "send printed $(cat "$tmp/out")"
expect_exit 0 "bob deletes carol" s bob delete carol
out_has "deleted carol"
# bob's queue on relay B is gone: relay B refuses carol's message.
expect_exit 1 "carol's send to bob fails (exit 1)" s carol send bob "did you go?" --timeout 10
[ "$(cat "$tmp/out")" = failed ] || fail "send printed $(cat "$tmp/out")"
[ "$(cat "$tmp/err")" = "sotto: the message to bob failed (their queue is gone: they deleted this contact, or their relay lost it): authentication failed" ] ||
	fail "send's error: $(cat "$tmp/err")"
[ "$(chat_count carol bob '^[0-9]{2}:[0-9]{2} me: did you go\? ✗ \(their queue is gone: they deleted this contact, or their relay lost it\)$')" -eq 1 ] ||
	fail "carol's chat: $(s carol chat bob)"
check "carol's chat marks it failed"
# The failed send may or may not have taken in bob's notice already.
bob_gone() { s carol contacts --all 2>/dev/null | grep -qE '^#[0-9]+ +deleted +bob  \(calls themselves Bob\)$'; }
for _ in $(seq 10); do
	bob_gone && break
	s carol receive --wait 2 >/dev/null 2>&1
done
bob_gone || fail "carol's contacts --all: $(s carol contacts --all)"
check "carol's contacts then list bob deleted"

for r in A B C; do
	rkill "$r" TERM
	[ "$rstatus" -eq 0 ] || fail "relay $r exited $rstatus on SIGTERM"
done
check "the three relays end cleanly on SIGTERM"

echo "all $n_checks checks passed"

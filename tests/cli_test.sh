#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# cli_test.sh - the real sotto program, command by command, against a real
# sotto-relay on loopback, with profiles in a temporary home: help and
# usage, init with and without a passphrase, the profile and passphrase
# exit codes, relay add/list, "no relay configured", an invitation joined
# and completed by "receive" on both sides, messages both ways waiting for
# "delivered", the history with its marks (UTF-8 and ASCII), rename,
# verify (both sides print the same code), ambiguous and unknown names,
# delete seen by the other side, the profile lock, and the timeout exit
# code once the relay is gone. Every wait is bounded; nothing asserts on
# timing.
#
# usage: cli_test.sh SOTTO SOTTO_RELAY
set -u

sotto=$1
relay=$2
. "$(dirname "$0")/cli_lib.sh"

# --- help and usage -----------------------------------------------------------
expect_exit 0 "--help lists every command and the exit codes" "$sotto" --help
for c in init relay invite connect contacts send chat rename delete verify receive name help; do
	grep -q "^  $c " "$tmp/out" || fail "--help does not list $c"
done
out_has "7 no relay configured"
expect_exit 0 "help send prints its usage" "$sotto" help send
grep -q '^usage: sotto send NAME TEXT' "$tmp/out" || fail "help send: $(cat "$tmp/out")"
expect_exit 0 "send --help prints the same" "$sotto" send --help
out_has "--wait delivered"
expect_exit 0 "--version" "$sotto" --version
grep -q '^sotto [0-9]' "$tmp/out" || fail "--version: $(cat "$tmp/out")"
expect_exit 2 "an unknown command exits 2" "$sotto" frobnicate
expect_exit 2 "an unknown option exits 2" s alice contacts --frobnicate
expect_exit 2 "a missing argument exits 2" s alice send bob
expect_exit 2 "a bad --timeout exits 2" s alice contacts --timeout 0
expect_exit 2 "a bad profile name exits 2" s ../x contacts

# --- profiles -----------------------------------------------------------------
expect_exit 3 "a missing profile exits 3" s alice contacts
err_has "create it with: sotto --home $home --profile alice init"
[ ! -e "$home/alice" ] || fail "a command on a missing profile created it"
expect_exit 0 "init without a passphrase" s alice init --no-passphrase --name Alice
out_has "created profile \"alice\""
[ "$(stat -c %a "$home/alice")" = 700 ] || fail "profile mode $(stat -c %a "$home/alice")"
expect_exit 1 "a second init is refused" s alice init --no-passphrase
err_has "exists already"
expect_exit 2 "init of a script without a passphrase source is a usage error" s carol init
expect_exit 0 "init with the passphrase from SOTTO_PASSPHRASE" \
	env SOTTO_PASSPHRASE='correct horse' "$sotto" --home "$home" --profile bob init --name Bob
expect_exit 5 "a wrong passphrase exits 5" \
	env SOTTO_PASSPHRASE='wrong horse' "$sotto" --home "$home" --profile bob contacts
err_has "wrong passphrase"
expect_exit 5 "no passphrase for a script exits 5" s bob contacts
err_has "SOTTO_PASSPHRASE"
expect_exit 0 "the passphrase on a descriptor" \
	"$sotto" --home "$home" --profile bob --passphrase-fd 3 name 3<<<'correct horse'
out_has "Bob"
export SOTTO_PASSPHRASE='correct horse' # bob's from here on; alice's profile ignores it
expect_exit 0 "name prints the display name" s alice name
[ "$(cat "$tmp/out")" = Alice ] || fail "name: $(cat "$tmp/out")"

# --- relays -------------------------------------------------------------------
expect_exit 7 "invite without a relay exits 7" s alice invite
err_has "add one with: sotto relay add ADDRESS"
relay_start
expect_exit 2 "a bad relay address exits 2" s alice relay add "http://example.org"
for p in alice bob; do
	expect_exit 0 "relay add ($p)" s "$p" relay add "$relay_addr"
done
expect_exit 1 "the same relay twice is refused" s alice relay add "$relay_addr"
expect_exit 0 "relay list" s alice relay list
[ "$(cat "$tmp/out")" = "$relay_addr" ] || fail "relay list: $(cat "$tmp/out")"

# --- invite, connect, receive until connected ---------------------------------
expect_exit 0 "invite prints a link (and no QR code into a pipe)" s alice invite --name bob
link=$(cat "$tmp/out")
[[ $link =~ ^sotto:[A-Za-z0-9_-]+$ ]] || fail "invite printed \"$link\""
[ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "invite printed more than the link"
expect_exit 0 "invite --show prints the pending invitation's link again" s alice invite --show bob
[ "$(cat "$tmp/out")" = "$link" ] || fail "invite --show: $(cat "$tmp/out")"
expect_exit 0 "connect joins the link" s bob connect "$link" --name alice
out_has "joined #"
expect_exit 1 "a link joined once is refused the second time" s bob connect "$link"
expect_exit 0 "contacts lists the joining contact" s bob contacts
out_has "joining"
: >"$tmp/alice-recv.log"
: >"$tmp/bob-recv.log"
for _ in $(seq 10); do
	[ "$(state_of alice bob)" = connected ] && [ "$(state_of bob alice)" = connected ] && break
	s alice receive --wait 2 >>"$tmp/alice-recv.log" 2>&1
	s bob receive --wait 2 >>"$tmp/bob-recv.log" 2>&1
done
[ "$(state_of alice bob)" = connected ] || fail "alice does not see bob connected"
[ "$(state_of bob alice)" = connected ] || fail "bob does not see alice connected"
grep -q '^connected: bob$' "$tmp/alice-recv.log" || fail "alice's receive did not print it"
grep -q '^connected: alice$' "$tmp/bob-recv.log" || fail "bob's receive did not print it"
check "receive on both sides completes the contact and says so"

# --- messages both ways, waiting for delivered --------------------------------
# send_delivered FROM TO TEXT PEER: sends while PEER runs receive.
send_delivered() {
	local from=$1 to=$2 text=$3 peer=$4
	# Not under timeout(1), which would pass on the SIGTERM below a second time;
	# --wait bounds it.
	"$sotto" --home "$home" --profile "$peer" receive --wait 60 </dev/null \
		>"$tmp/$peer-recv.log" 2>&1 &
	local rpid=$!
	bg_pids+=("$rpid")
	expect_exit 0 "$from sends \"$text\" and waits until delivered" \
		s "$from" send "$to" "$text" --wait delivered --timeout 60
	[ "$(cat "$tmp/out")" = delivered ] || fail "send printed $(cat "$tmp/out")"
	has_text() { grep -qF -- ": $text" "$tmp/$peer-recv.log"; }
	wait_for "$peer to print the message" has_text
	kill -TERM "$rpid"
	wait "$rpid"
	local rc=$?
	[ "$rc" -eq 0 ] || fail "$peer's receive exited $rc after SIGTERM"
	grep -qE "^[0-9]{2}:[0-9]{2} [a-z]+: $text\$" "$tmp/$peer-recv.log" ||
		fail "$peer's receive line: $(cat "$tmp/$peer-recv.log")"
	check "$peer's receive printed \"HH:MM name: $text\" and ended cleanly on SIGTERM"
}
send_delivered alice bob "hello bob" bob
send_delivered bob alice "hi alice" alice

expect_exit 0 "chat shows the history with delivered marks" s alice chat bob
grep -qE '^[0-9]{2}:[0-9]{2} me: hello bob ✓✓$' "$tmp/out" || fail "chat: $(cat "$tmp/out")"
grep -qE '^[0-9]{2}:[0-9]{2} bob: hi alice$' "$tmp/out" || fail "chat: $(cat "$tmp/out")"
expect_exit 0 "chat in a non-UTF-8 locale uses ASCII marks" env LC_ALL=C \
	"$sotto" --home "$home" --profile bob chat alice
grep -qE '^[0-9]{2}:[0-9]{2} me: hi alice \+\+$' "$tmp/out" || fail "chat: $(cat "$tmp/out")"
expect_exit 0 "send reads the text from stdin with -" \
	bash -c "printf 'from stdin\n' | timeout 60 '$sotto' --home '$home' --profile alice send bob -"
[ "$(cat "$tmp/out")" = sent ] || fail "send - printed $(cat "$tmp/out")"
expect_exit 2 "an empty message is a usage error" s alice send bob ""

# --- rename, verify ------------------------------------------------------------
expect_exit 0 "rename" s alice rename bob bobby
expect_exit 0 "contacts shows the new name" s alice contacts
grep -qE '^#[0-9]+ +connected +bobby  \(calls themselves Bob\)$' "$tmp/out" ||
	fail "contacts: $(cat "$tmp/out")"
expect_exit 6 "the old name is not found (exit 6)" s alice send bob "x"
err_has "no contact \"bob\"; contacts: bobby"
expect_exit 0 "verify on alice's side" s alice verify bobby
code_a=$(cat "$tmp/out")
expect_exit 0 "verify on bob's side" s bob verify alice
code_b=$(cat "$tmp/out")
[[ $code_a =~ ^([0-9]{5} ){11}[0-9]{5}$ ]] || fail "security code \"$code_a\""
[ "$code_a" = "$code_b" ] || fail "security codes differ: $code_a / $code_b"
check "both sides print the same security code"

# --- ambiguous names -------------------------------------------------------------
profile carol Carol
expect_exit 0 "invite --qr draws the code" s carol invite --qr
grep -q '^sotto:' "$tmp/out" || fail "no link before the QR code"
[ "$(grep -c '█' "$tmp/out")" -ge 10 ] || fail "no QR code: $(head -3 "$tmp/out")"
link1=$(head -n 1 "$tmp/out")
expect_exit 0 "carol invites again" s carol invite
link2=$(cat "$tmp/out")
expect_exit 0 "bob joins one as pal" s bob connect "$link1" --name pal
expect_exit 0 "bob joins the other as pal too" s bob connect "$link2" --name pal
expect_exit 6 "an ambiguous name exits 6" s bob send pal "hi"
err_has "\"pal\" is ambiguous"
grep -qE '#[0-9]+ pal \(joining\), #[0-9]+ pal \(joining\)' "$tmp/err" ||
	fail "candidates not listed: $(cat "$tmp/err")"
pal=$(grep -oE '#[0-9]+ pal' "$tmp/err" | head -n 1 | cut -d' ' -f1)
expect_exit 1 "#ID picks one (still joining: not sendable yet)" s bob send "$pal" "hi"
err_has "the connection is still being made"

# --- delete -------------------------------------------------------------------
expect_exit 0 "delete" s alice delete bobby
out_has "deleted bobby"
: >"$tmp/bob-recv.log"
for _ in $(seq 10); do
	s bob receive --wait 2 >>"$tmp/bob-recv.log" 2>&1
	grep -q '^alice left' "$tmp/bob-recv.log" && break
done
grep -q '^alice left' "$tmp/bob-recv.log" || fail "bob was not told: $(cat "$tmp/bob-recv.log")"
check "the other side is told that the contact left"
expect_exit 1 "sending to a contact that left fails" s bob send alice "still there?"
expect_exit 0 "contacts --all still lists the deleted contact" s alice contacts --all
grep -qE '^#[0-9]+ +deleted +bobby' "$tmp/out" || fail "contacts --all: $(cat "$tmp/out")"
expect_exit 0 "the history of a deleted contact stays readable" s alice chat bobby
out_has "me: hello bob"

# --- purge: no piece of the purged records is left in any file ------------------
# The sealed records of alice's history as stored (read with the sqlite3
# tool); the search finds each of them in the profile's files before the
# purge (the control), and no 16-byte piece of the purged ones after it.
records() { sqlite3 -readonly "$home/alice/store.db" "SELECT lower(hex(rec)) FROM messages"; }
# pieces_found FILE: how many records of FILE have a 16-byte piece in alice's files
pieces_found() {
	local f rec off n=0
	for f in "$home"/alice/*; do
		od -An -v -tx1 "$f" | tr -d ' \n'
		echo
	done >"$tmp/alice.hex"
	while read -r rec; do
		for off in 0 32 64 96; do
			[ ${#rec} -ge $((off + 32)) ] || continue
			if grep -qF "${rec:$off:32}" "$tmp/alice.hex"; then
				n=$((n + 1))
				break
			fi
		done
	done <"$1"
	echo "$n"
}
records >"$tmp/before" || fail "sqlite3 could not read alice's records"
n_before=$(wc -l <"$tmp/before")
[ "$(pieces_found "$tmp/before")" -eq "$n_before" ] && [ "$n_before" -gt 0 ] ||
	fail "the search does not find alice's $n_before records"
check "the search finds every stored record ($n_before) before the purge"
expect_exit 0 "delete --purge removes a deleted contact and its history" s alice delete bobby --purge
records >"$tmp/after"
grep -vxFf "$tmp/after" "$tmp/before" >"$tmp/purged"
[ -s "$tmp/purged" ] || fail "the purge removed no record"
n_left=$(pieces_found "$tmp/purged")
[ "$n_left" -eq 0 ] || fail "$n_left purged records still in alice's files"
check "no piece of the $(wc -l <"$tmp/purged") purged records is left in any file of the profile"
expect_exit 0 "contacts --all after the purge" s alice contacts --all
grep -q bobby "$tmp/out" && fail "the purged contact is still listed: $(cat "$tmp/out")"
check "a purged contact is no longer listed"
expect_exit 6 "nor found by name (exit 6)" s alice chat bobby

# --- the profile lock ------------------------------------------------------------
"$sotto" --home "$home" --profile alice receive --wait 60 </dev/null >"$tmp/lock-recv.log" 2>&1 &
lpid=$!
bg_pids+=("$lpid")
held() { awk -v p="$lpid" '$2 == "FLOCK" && $5 == p { f = 1 } END { exit !f }' /proc/locks; }
wait_for "the receive to hold the profile" held
expect_exit 4 "a profile in use by another process exits 4" s alice contacts
err_has "in use by another sotto process"
kill -TERM "$lpid"
wait "$lpid"

# --- timeout: the relay is gone -----------------------------------------------------
expect_exit 0 "invite while the relay runs" s carol invite
link3=$(cat "$tmp/out")
relay_stop
expect_exit 8 "connect times out without the relay (exit 8)" s alice connect "$link3" --timeout 2
err_has "timed out"

echo "all $n_checks checks passed"

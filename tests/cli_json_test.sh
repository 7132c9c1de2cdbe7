#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# cli_json_test.sh - the JSON-lines API of the real sotto program (sotto
# --json), scripted through pipes against a real sotto-relay on loopback:
# two API processes make a contact (invite, connect, "connected" events on
# both), exchange messages (send answers, "message" and "status" events up
# to "delivered"), read the history and the security code, and answer
# malformed JSON, unknown commands, bad arguments, unknown contacts and an
# over-long line with error answers while staying up; quit and the end of
# input end them with exit 0; a missing profile gives an error event and
# exit 3. Every wait is bounded; nothing asserts on timing.
#
# usage: cli_json_test.sh SOTTO SOTTO_RELAY
set -u

sotto=$1
relay=$2
. "$(dirname "$0")/cli_lib.sh"

declare -A api_pid api_fd

# api_start PROFILE: sotto --json on PROFILE, commands through a FIFO.
api_start() {
	local p=$1 fd
	mkfifo "$tmp/$p.in"
	"$sotto" --home "$home" --profile "$p" --json <"$tmp/$p.in" >"$tmp/$p.out" 2>"$tmp/$p.log" &
	api_pid[$p]=$!
	bg_pids+=("${api_pid[$p]}")
	exec {fd}>"$tmp/$p.in"
	api_fd[$p]=$fd
	out_of() { grep -q '^{"event":"ready"' "$tmp/$p.out"; }
	wait_for "$p's API to be ready" out_of
}

# api PROFILE LINE: writes one command line.
api() {
	printf '%s\n' "$2" >&"${api_fd[$1]}"
}

# api_wait PROFILE TEXT: waits for a line holding TEXT (fixed string); sets line.
api_wait() {
	local p=$1 text=$2
	has_line() { line=$(grep -F -- "$text" "$tmp/$p.out" | head -n 1) && [ -n "$line" ]; }
	wait_for "$p to print $text" has_line
}

# api_answer PROFILE ID: waits for the answer to command ID; sets line.
api_answer() {
	api_wait "$1" "{\"id\":$2,\"ok\":"
}

field() { # field NAME: the string value of NAME in line
	printf '%s\n' "$line" | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"
}

num_field() { # num_field NAME: the number value of NAME in line
	printf '%s\n' "$line" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}

# api_end PROFILE WANT: waits for the process to end; checks its exit code.
api_end() {
	local p=$1 want=$2 pid=${api_pid[$1]}
	gone() { ! kill -0 "$pid" 2>/dev/null; }
	wait_for "$p's API to end" gone
	wait "$pid"
	local rc=$?
	[ "$rc" -eq "$want" ] || fail "$p's API exited $rc, want $want"
}

relay_start
profile dave Dave
profile erin Erin

# --- a missing profile ------------------------------------------------------------
expect_exit 3 "--json on a missing profile exits 3" s nobody --json
grep -q '^{"event":"error","code":"no_profile"' "$tmp/out" || fail "no error event: $(cat "$tmp/out")"
check "and says why in an error event first"

# --- one command piped in, and no relay ---------------------------------------------------
s fay init --no-passphrase >/dev/null 2>&1 || fail "init fay"
expect_exit 0 "commands piped in, then the end of input, exit 0" bash -c \
	"printf '%s\n' '{\"id\":1,\"cmd\":\"invite\"}' | timeout 60 '$sotto' --home '$home' --profile fay --json"
grep -q '^{"id":1,"ok":false,"error":{"code":"no_relay","message":"no relay configured: add one with relay_add"}}$' \
	"$tmp/out" || fail "invite without a relay: $(cat "$tmp/out")"
check "invite without a relay answers no_relay"

# --- a contact through the API ---------------------------------------------------------
api_start dave
api_start erin
check "both APIs print the ready event"
api dave '{"id":1,"cmd":"invite"}'
api_answer dave 1
case $line in '{"id":1,"ok":true,"contact":'*) ;; *) fail "invite: $line" ;; esac
link=$(field link)
[[ $link =~ ^sotto:[A-Za-z0-9_-]+$ ]] || fail "invite link: $line"
check "invite answers with the contact and the link"
api erin "{\"id\":\"c1\",\"cmd\":\"connect\",\"link\":\"$link\",\"name\":\"dave\"}"
api_wait erin '{"id":"c1","ok":true,"contact":'
check "connect answers ok, string id echoed"
api_wait dave '{"event":"connected","contact":'
api_wait dave '"name":"Erin"}'
api_wait erin '{"event":"connected","contact":'
check "both sides get the connected event"

# --- messages and statuses --------------------------------------------------------------
api erin '{"id":2,"cmd":"send","contact":"dave","text":"hi dave \u00e9\n2nd line"}'
api_answer erin 2
case $line in '{"id":2,"ok":true,"contact":'*'"status":"queued"}') ;; *) fail "send: $line" ;; esac
msg=$(num_field msg)
[ -n "$msg" ] || fail "send answer without msg: $line"
check "send answers with the message ID"
api_wait dave '"text":"hi dave é\n2nd line"'
case $line in '{"event":"message","contact":'*'"name":"Erin","msg":'*) ;; *) fail "message: $line" ;; esac
check "the message event carries contact, name and text"
api_wait erin "{\"event\":\"status\",\"contact\":"
api_wait erin "\"msg\":$msg,\"status\":\"delivered\"}"
check "status events follow the message to delivered"
api dave '{"id":3,"cmd":"send","contact":"Erin","text":"hello erin"}'
api_answer dave 3
api_wait erin '"text":"hello erin"'
api erin '{"id":4,"cmd":"history","contact":"dave","limit":10}'
api_answer erin 4
case $line in *'"dir":"out","status":"delivered","text":"hi dave é\n2nd line"'*'"dir":"in","status":"received","text":"hello erin"'*) ;;
*) fail "history: $line" ;;
esac
check "history lists both messages with direction and status"

# --- verify, contacts, relays -------------------------------------------------------------
api erin '{"id":5,"cmd":"verify","contact":"dave"}'
api_answer erin 5
code_e=$(field code)
api dave '{"id":5,"cmd":"verify","contact":"Erin"}'
api_answer dave 5
code_d=$(field code)
[[ $code_e =~ ^([0-9]{5} ){11}[0-9]{5}$ ]] && [ "$code_e" = "$code_d" ] ||
	fail "security codes: $code_e / $code_d"
check "verify gives the same security code on both sides"
api erin '{"id":6,"cmd":"contacts"}'
api_answer erin 6
case $line in *'"name":"dave","peer_name":"Dave","state":"connected","has_local_name":true'*) ;;
*) fail "contacts: $line" ;;
esac
api erin '{"id":7,"cmd":"relay_list"}'
api_answer erin 7
[ "$line" = "{\"id\":7,\"ok\":true,\"relays\":[\"$relay_addr\"]}" ] || fail "relay_list: $line"
check "contacts and relay_list"

# --- errors, and the API stays up ---------------------------------------------------------------
api erin '{oops'
api_wait erin '{"id":null,"ok":false,"error":{"code":"bad_json"'
api erin '[1,2]'
api_wait erin '"message":"not a JSON object: another JSON value"'
api erin '{"id":8,"cmd":"frobnicate"}'
api_wait erin '{"id":8,"ok":false,"error":{"code":"unknown_command"'
api erin '{"id":9,"cmd":"send","contact":"nobody","text":"x"}'
api_wait erin '{"id":9,"ok":false,"error":{"code":"contact_not_found","message":"no contact \"nobody\"; contacts: dave"}}'
api erin '{"id":10,"cmd":"send","contact":"dave"}'
api_wait erin '{"id":10,"ok":false,"error":{"code":"bad_request"'
api erin '{"id":11,"cmd":"send","contact":99999,"text":"x"}'
api_wait erin '{"id":11,"ok":false,"error":{"code":"contact_not_found"'
api erin "{\"id\":12,\"cmd\":\"send\",\"contact\":\"dave\",\"text\":\"$(head -c 70000 /dev/zero | tr '\0' a)\"}"
api_wait erin '{"id":null,"ok":false,"error":{"code":"line_too_long"'
api erin '{"id":13,"cmd":"relay_add","address":"not an address"}'
api_wait erin '{"id":13,"ok":false,"error":{"code":"addr_scheme"'
api erin '{"id":14,"cmd":"get_name"}'
api_wait erin '{"id":14,"ok":true,"name":"Erin","is_default":false}'
check "bad input gets error answers and the API keeps answering"

# --- names and leaving ----------------------------------------------------------------------
api dave '{"id":20,"cmd":"set_name","name":"David"}'
api_wait dave '{"id":20,"ok":true}'
api_wait erin '"event":"renamed"'
case $line in '{"event":"renamed","contact":'*'"name":"David"}') ;; *) fail "renamed: $line" ;; esac
api erin '{"id":21,"cmd":"rename","contact":"dave","name":"davy"}'
api_answer erin 21
case $line in *'"name":"davy","peer_name":"David","state":"connected","has_local_name":true'*) ;;
*) fail "rename: $line" ;;
esac
check "set_name reaches the contact as a renamed event; rename sets a local name"
api dave '{"id":22,"cmd":"delete","contact":"Erin"}'
api_answer dave 22
case $line in '{"id":22,"ok":true,"contact":'*) ;; *) fail "delete: $line" ;; esac
api_wait erin '{"event":"left","contact":'
api erin '{"id":23,"cmd":"send","contact":"davy","text":"x"}'
api_wait erin '{"id":23,"ok":false,"error":{"code":"state"'
check "delete reaches the contact as a left event; sending then fails"

# --- the end ----------------------------------------------------------------------------------
api erin '{"id":15,"cmd":"quit"}'
api_wait erin '{"id":15,"ok":true}'
api_end erin 0
check "quit answers, then the API exits 0"
eval "exec ${api_fd[dave]}>&-"
api_end dave 0
check "the end of input ends the API with exit 0"

echo "all $n_checks checks passed"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# cli_tmux_test.sh - the interactive chat of the real sotto program, typed
# into real terminals: two tmux sessions on a private tmux server, each
# running "sotto" on its own profile against a real sotto-relay on
# loopback. Keys go in with send-keys, the screens are read back with
# capture-pane. Covered: the banner, /invite (link and QR code on the
# screen), /connect, "connected" on both sides, plain lines to the current
# contact and @name lines, messages appearing as "HH:MM name: text" while
# the other side types, the "✓✓ delivered" status lines, /chat with marks,
# /verify on both sides, the relay going down and coming back, /quit and
# Ctrl-D. Every wait is bounded; nothing asserts on timing.
#
# usage: cli_tmux_test.sh SOTTO SOTTO_RELAY
set -u

sotto=$1
relay=$2
. "$(dirname "$0")/cli_lib.sh"

command -v tmux >/dev/null || fail "tmux is not installed (scripts/lib.sh lists it)"
sock=$tmp/tmux.sock
t() { timeout 30 tmux -S "$sock" -f /dev/null "$@"; }
tmux_cleanup() { t kill-server 2>/dev/null; }
cli_extra_cleanup=tmux_cleanup

# screen NAME: the whole pane with its scrollback, wrapped lines joined.
screen() { t capture-pane -p -J -t "$1" -S -1000; }

# shows NAME TEXT: waits until the pane of NAME shows TEXT (fixed string).
shows() {
	local name=$1 text=$2
	on_screen() { screen "$name" | grep -qF -- "$text"; }
	wait_for "$name's screen to show \"$text\"" on_screen
}

# shows_re NAME REGEX: waits until the pane of NAME has a line matching REGEX.
shows_re() {
	local name=$1 re=$2
	on_screen_re() { screen "$name" | grep -qE -- "$re"; }
	wait_for "$name's screen to match /$re/" on_screen_re
}

# type_line NAME TEXT: types TEXT and Enter.
type_line() {
	t send-keys -t "$1" -l -- "$2"
	t send-keys -t "$1" Enter
}

# chat NAME PROFILE: a tmux session running the chat on PROFILE.
chat() {
	t new-session -d -s "$1" -x 160 -y 50 \
		"env LC_ALL=C.UTF-8 TZ=UTC '$sotto' --home '$home' --profile '$2'; echo \"exit=\$?\" >'$tmp/$1.exit'; sleep 60"
	t set-option -t "$1" history-limit 5000 >/dev/null
}

# ended NAME CODE: the chat in NAME ended with CODE.
ended() {
	local name=$1
	exited() { [ -s "$tmp/$name.exit" ]; }
	wait_for "the chat in $name to end" exited
	[ "$(cat "$tmp/$name.exit")" = "exit=$2" ] || fail "$name: $(cat "$tmp/$name.exit")"
}

# run_in NAME ARGS...: sotto ARGS in a new terminal; ended NAME CODE checks its end.
run_in() {
	local name=$1
	shift
	t new-session -d -s "$name" -x 160 -y 50 \
		"env LC_ALL=C.UTF-8 TZ=UTC '$sotto' --home '$home' $*; echo \"exit=\$?\" >'$tmp/$name.exit'; sleep 60"
}

# --- init and the passphrase on a terminal ---------------------------------------------
run_in I --profile cat init
shows I "Your display name"
type_line I "Cat"
shows I "New passphrase:"
type_line I "secret one"
shows I "Repeat it:"
type_line I "secret two"
shows I "the two passphrases differ; again"
prompted_again() { [ "$(screen I | grep -c 'New passphrase:')" -ge 2 ]; }
wait_for "the second passphrase prompt" prompted_again
type_line I "secret three"
repeat_again() { [ "$(screen I | grep -c 'Repeat it:')" -ge 2 ]; }
wait_for "the second repeat prompt" repeat_again
type_line I "secret three"
ended I 0
screen I | grep -q "secret" && fail "a passphrase was echoed: $(screen I)"
shows I 'created profile "cat"'
check "init asks the name, and the passphrase twice with echo off"
run_in P --profile cat name
shows P "Passphrase:"
type_line P "secret three"
ended P 0
shows P "Cat"
run_in W --profile cat name
shows W "Passphrase:"
type_line W "secret four"
ended W 5
shows W "wrong passphrase"
check "opening asks the passphrase on the terminal; a wrong one exits 5"

relay_start
profile amy Amy
profile ben Ben

chat A amy
chat B ben
shows A 'you are "Amy". /help lists the commands.'
shows B 'you are "Ben". /help lists the commands.'
check "the chat starts in both terminals with its banner"

type_line A "/help"
shows A "@NAME text    send to NAME and make it the current contact"
type_line A "/invite"
shows A "invitation #"
link=$(screen A | grep -oE 'sotto:[A-Za-z0-9_-]{100,}' | head -n 1)
[ -n "$link" ] || fail "no link on the screen: $(screen A)"
screen A | grep -q '█' || fail "no QR code on the screen"
check "/invite shows the link and its QR code"

type_line B "/connect $link amy"
shows B "joined #"
shows B "connected: amy"
shows A "connected: Ben"
shows_re B '^amy> '
check "/connect completes the contact on both sides, and it becomes current"

type_line B "hello amy"
shows_re A '^[0-9]{2}:[0-9]{2} Ben: hello amy$'
shows_re B '^[0-9]{2}:[0-9]{2} me → amy: hello amy$'
shows B '✓✓ delivered to amy: "hello amy"'
check "a plain line goes to the current contact; the delivered mark follows"

t send-keys -t A -l -- "half-typed"
type_line B "are you there?"
shows_re A '^[0-9]{2}:[0-9]{2} Ben: are you there\?$'
screen A | tail -n 5 | grep -q '> half-typed$' || fail "the half-typed input was lost: $(screen A | tail -n 5)"
t send-keys -t A C-u
check "a message arrives above a half-typed line, which stays"

type_line A "@Ben hi ben, a long message that does not fit in a preview"
shows_re B '^[0-9]{2}:[0-9]{2} amy: hi ben, a long message that does not fit in a preview$'
shows A '✓✓ delivered to Ben: "hi ben, a long message…"'
check "@name sends to name and the status line shows a preview"

type_line A "/chat Ben"
shows A "-- Ben (connected) --"
shows_re A '^[0-9]{2}:[0-9]{2} me: hi ben, a long message that does not fit in a preview ✓✓$'
shows_re A '^[0-9]{2}:[0-9]{2} Ben: hello amy$'
check "/chat shows the history with status marks"

type_line A "/verify Ben"
type_line B "/verify amy"
shows_re A '^([0-9]{5} ){11}[0-9]{5}$'
shows_re B '^([0-9]{5} ){11}[0-9]{5}$'
code_a=$(screen A | grep -E '^([0-9]{5} ){11}[0-9]{5}$' | head -n 1)
code_b=$(screen B | grep -E '^([0-9]{5} ){11}[0-9]{5}$' | head -n 1)
[ "$code_a" = "$code_b" ] || fail "security codes differ: $code_a / $code_b"
check "/verify shows the same code on both sides"

type_line A "@nobody hi"
shows A 'no contact "nobody"; contacts: Ben'
type_line A "/frobnicate"
shows A "unknown command /frobnicate"
check "unknown names and commands are answered, not fatal"

relay_stop
shows_re A "^relay 127\.0\.0\.1:$relay_port is unreachable \(.*\); retrying$"
shows_re B "^relay 127\.0\.0\.1:$relay_port is unreachable"
relay_start
shows A "relay 127.0.0.1:$relay_port is reachable again"
shows B "relay 127.0.0.1:$relay_port is reachable again"
check "the chat says when the relay goes away and when it is back"

type_line B "still here"
shows_re A '^[0-9]{2}:[0-9]{2} Ben: still here$'
shows B '✓✓ delivered to amy: "still here"'
check "messages flow again after the relay came back"

type_line A "/quit"
ended A 0
t send-keys -t B C-d
ended B 0
check "/quit and Ctrl-D end the chat with exit 0"

echo "all $n_checks checks passed"

# SPDX-License-Identifier: MIT
# Shared by the scripts in this directory: the repository root and the one
# list of Debian packages sotto needs to build, test, fuzz and benchmark.
# Sourced, not run.

SOTTO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# build + run time: compiler, cmake, libsodium, libuv, libqrencode (the
# client's QR codes), jansson (the client's JSON API); tests: cmocka, tmux
# (the interactive client typed into real terminals);
# fuzzing and sanitizers under clang: clang and its runtime libraries;
# coverage: gcovr; symbol check: binutils (nm); the fault-injection network
# test: iproute2, iptables and libnetfilter-queue (packet delay and loss in
# user space where the kernel has no netem); the operator-view test: gdb (gcore);
# the purge check of the CLI test: sqlite3 (reads the stored records).
SOTTO_PACKAGES=(gcc clang libclang-rt-14-dev llvm cmake make pkg-config binutils
	libsodium-dev libuv1-dev libsqlite3-dev libqrencode-dev libcmocka-dev libjansson-dev tmux gcovr
	iproute2 iptables libnetfilter-queue-dev gdb sqlite3)
# bench only (bench/e2e's baselines and bench/relay's redis-server; never
# linked into libsotto):
SOTTO_PACKAGES+=(libsignal-protocol-c-dev libolm-dev libssl-dev redis-server)

# Installs whatever is missing. As root it runs apt-get; otherwise it prints
# the exact command to run and stops.
sotto_ensure_packages() {
	local missing=() p
	for p in "${SOTTO_PACKAGES[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "sotto needs these Debian packages: ${missing[*]}" >&2
		echo "Install them as root, then run this again:" >&2
		echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
	echo "== installing: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
}

sotto_jobs() {
	nproc 2>/dev/null || echo 2
}

#!/usr/bin/env bash
# A three-node ketch cluster on loopback for running other projects' client
# test suites against (franz-go's: see README.md, "More").
#
#   interop/cluster3.sh start DIR [BASEPORT]   # build cmd/node, start nodes 1-3
#   interop/cluster3.sh stop DIR               # SIGTERM them
#
# Kafka listens on BASEPORT+1..3 (default 19091: 19092-19094), raft on
# BASEPORT+101..103. DIR holds the binary, data, logs and pids; start prints
# the seed list.
set -euo pipefail
cd "$(dirname "$0")/.."

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n 2,10p "$0"; exit 2; }
base=${3:-19091}

case "$cmd" in
start)
	mkdir -p "$dir"
	go build -o "$dir/node" ./cmd/node
	peers="1=127.0.0.1:$((base + 101)),2=127.0.0.1:$((base + 102)),3=127.0.0.1:$((base + 103))"
	for id in 1 2 3; do
		"$dir/node" -id "$id" -listen "127.0.0.1:$((base + id))" -data "$dir/node$id" \
			-raft "127.0.0.1:$((base + 100 + id))" -peers "$peers" >>"$dir/node$id.log" 2>&1 &
		echo $! >"$dir/node$id.pid"
	done
	for id in 1 2 3; do
		# Poll until the listener accepts, up to 30 s: an external process
		# coming up.
		for _ in $(seq 300); do
			kill -0 "$(cat "$dir/node$id.pid")" 2>/dev/null || { echo "node $id exited; see $dir/node$id.log" >&2; exit 1; }
			if (exec 3<>"/dev/tcp/127.0.0.1/$((base + id))") 2>/dev/null; then break; fi
			sleep 0.1
		done
	done
	echo "127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))"
	;;
stop)
	# SIGTERM (leadership handed over, then exit), waiting up to 15 s per
	# node before SIGKILL, so that a start right after finds the data
	# directories free.
	for id in 1 2 3; do
		[ -f "$dir/node$id.pid" ] || continue
		pid=$(cat "$dir/node$id.pid")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			echo "node $id ignored SIGTERM for 15s; killing it" >&2
			kill -9 "$pid" 2>/dev/null || true
		fi
		rm -f "$dir/node$id.pid"
	done
	;;
*)
	sed -n 2,10p "$0"
	exit 2
	;;
esac

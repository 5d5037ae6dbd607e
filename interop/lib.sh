# Shared by the one-node interop scripts (compression.sh, compaction.sh):
# sourced after NAME (the script's name in messages) and PY are set.
#
#   need "python modules" "debian packages"   installs what is missing
#   start_node                                builds cmd/node (or copies
#       $KETCH_NODE) into $work, starts it on a free port as $broker, and
#       stops it and removes $work on exit, printing the node log on failure

fail() { echo "$NAME: FAIL: $*" >&2; exit 1; }

need() {
	local modules=$1 pkgs=$2
	if command -v kcat >/dev/null && "$PY" -c "import $modules" 2>/dev/null; then
		return
	fi
	echo "$NAME: installing $pkgs"
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get install -y $pkgs >/dev/null ||
		{ $sudo apt-get update >/dev/null && $sudo apt-get install -y $pkgs >/dev/null; } ||
		fail "could not install $pkgs"
}

work=$(mktemp -d)
pid=""
cleanup() {
	local rc=$?
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	if [ $rc -ne 0 ] && [ -f "$work/node.log" ]; then
		echo "--- node log (last 40 lines) ---" >&2
		tail -n 40 "$work/node.log" >&2
	fi
	rm -rf "$work"
}
trap cleanup EXIT

start_node() {
	# KETCH_NODE runs another build (say, an older commit's) instead.
	if [ -n "${KETCH_NODE:-}" ]; then cp "$KETCH_NODE" "$work/node"; else go build -o "$work/node" ./cmd/node; fi
	port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	broker=127.0.0.1:$port
	"$work/node" -listen "$broker" -data "$work/data" >>"$work/node.log" 2>&1 &
	pid=$!
	for _ in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || fail "node exited at start"
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
		sleep 0.1 # polling for the listener, not standing in for an answer
	done
	echo "$NAME: node listening on $broker"
}

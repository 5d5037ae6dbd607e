#!/usr/bin/env bash
# Interop check: build cmd/node, start it as a new user would, and talk to it
# with kcat (librdkafka) and kafka-python; then kill -9 it, restart it on the
# same data directory and check that everything acknowledged is still there,
# in order. Exits non-zero with a reason on any mismatch.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=1000
PY=/usr/bin/python3 # Debian's python3-kafka installs for the system python
KCAT_TOPIC=kcat-topic
PY_TOPIC=py-topic

fail() { echo "interop: FAIL: $*" >&2; exit 1; }

install_deps() {
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get install -y kcat python3-kafka python3-snappy >/dev/null ||
		{ $sudo apt-get update >/dev/null && $sudo apt-get install -y kcat python3-kafka python3-snappy >/dev/null; }
}
# python3-snappy: franz-go's producer compresses batches of more than one
# record with snappy by default, and kafka-python reading them without the
# codec dies with UnsupportedCodecError (make interop-groups' producer does).
if ! command -v kcat >/dev/null || ! "$PY" -c 'import kafka, snappy' 2>/dev/null; then
	echo "interop: installing kcat, python3-kafka and python3-snappy"
	install_deps || fail "could not install kcat, python3-kafka and python3-snappy"
fi

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

go build -o "$work/node" ./cmd/node
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
broker=127.0.0.1:$port

start_node() {
	# Checkpoints every 16 KiB: the restart after kill -9 resumes from one.
	"$work/node" -listen "$broker" -data "$work/data" -checkpoint-bytes 16384 >>"$work/node.log" 2>&1 &
	pid=$!
	# Poll until the listener accepts, up to 30 s.
	for _ in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || fail "node exited at start"
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return; fi
		sleep 0.1
	done
	fail "node not listening on $broker after 30s"
}

check_kcat() {
	timeout 60 kcat -C -b "$broker" -t "$KCAT_TOPIC" -o beginning -e -q >"$work/kcat.got" ||
		fail "kcat consume exited non-zero"
	cmp -s "$work/kcat.want" "$work/kcat.got" ||
		fail "kcat read back $(wc -l <"$work/kcat.got") lines, want the $COUNT produced in order (first difference: $(cmp "$work/kcat.want" "$work/kcat.got" 2>&1 | head -n1))"
	echo "kcat: consumed $COUNT lines from $KCAT_TOPIC in order"
}

start_node
echo "interop: node listening on $broker (data in $work/data)"

# (a) kcat / librdkafka
seq -f 'kcat-line-%06g' 1 "$COUNT" >"$work/kcat.want"
timeout 60 kcat -P -b "$broker" -t "$KCAT_TOPIC" -X request.required.acks=-1 <"$work/kcat.want" ||
	fail "kcat produce exited non-zero"
echo "kcat: produced $COUNT lines to $KCAT_TOPIC with acks=all"
check_kcat

# (b) kafka-python
timeout 120 "$PY" interop/kafka_python_check.py produce "$broker" "$PY_TOPIC" "$COUNT" ||
	fail "kafka-python produce"
timeout 120 "$PY" interop/kafka_python_check.py consume "$broker" "$PY_TOPIC" "$COUNT" ||
	fail "kafka-python consume"

# (c) crash and restart on the same data
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
pid=""
echo "interop: node killed with SIGKILL; restarting on the same data"
start_node
check_kcat
timeout 120 "$PY" interop/kafka_python_check.py consume "$broker" "$PY_TOPIC" "$COUNT" ||
	fail "kafka-python consume after restart"

# (d) topic configs through kafka-python's admin client
timeout 120 "$PY" interop/configs.py "$broker" || fail "kafka-python topic configs"

echo "interop: PASS (kcat and kafka-python: $COUNT records each, produced, consumed, and intact after kill -9; kafka-python topic configs)"

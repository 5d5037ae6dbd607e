#!/usr/bin/env bash
# Compaction interop, the newcomer's steps: build cmd/node, start one node,
# create a topic with cleanup.policy=compact, delete.retention.ms=1000 and
# segment.ms=1 (kafka-python's admin client; the cleaner never cleans the
# active segment, which with Kafka's default segment.ms rolls once a week),
# write 300 keyed records k0..k4 with kcat one record a batch, then a tombstone of k0, and once a cleaner pass ran
# (log.cleaner.backoff.ms, 15s) read it from the beginning with kcat -e and
# with kafka-python: both must reach the end and see the newest record of
# every key plus the tombstone. Then more records of a fifth key, until a
# pass past the tombstone's delete horizon removes it: a read from the
# start, and one from an offset compaction removed, must still reach the
# end. Exits non-zero with a reason on any mismatch.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
TOPIC=compacted

NAME=interop-compaction
. interop/lib.sh
need "kafka" "kcat python3-kafka"
start_node

timeout 60 "$PY" -c '
import sys
from kafka.admin import KafkaAdminClient, NewTopic
a = KafkaAdminClient(bootstrap_servers=sys.argv[1])
a.create_topics([NewTopic(sys.argv[2], 1, 1, topic_configs={"cleanup.policy": "compact", "delete.retention.ms": "1000", "segment.ms": "1"})])
' "$broker" "$TOPIC" || fail "kafka-python could not create $TOPIC"

# Record i (1..300) is k(i%5)=v<i> at offset i-1; the tombstone of k0 is 300.
for i in $(seq 1 300); do echo "k$((i % 5)):v$i"; done |
	timeout 60 kcat -P -b "$broker" -t "$TOPIC" -p 0 -K: -X linger.ms=0 -X batch.num.messages=1 -X request.required.acks=-1 ||
	fail "kcat produce exited non-zero"
echo "k0:" | timeout 60 kcat -P -b "$broker" -t "$TOPIC" -p 0 -K: -Z -X request.required.acks=-1 ||
	fail "kcat produce of the tombstone exited non-zero"

# read_kcat FROM reads the partition from FROM to its end into $work/got
# ("offset key=value", NULL for the tombstone); kcat -e exits at the end,
# so a timeout is a consumer that never got there.
read_kcat() {
	timeout 30 kcat -C -b "$broker" -t "$TOPIC" -p 0 -o "$1" -e -q -Z -f '%o %k=%s\n' >"$work/got" ||
		fail "kcat -C -o $1 -e did not reach the end of $TOPIC in 30s (read $(wc -l <"$work/got") records, the last: $(tail -n 1 "$work/got"))"
}
# wait_log WANT reads from the beginning until the log is WANT (a cleaner
# pass runs every 15s), 90s at most.
wait_log() {
	for _ in $(seq 90); do
		read_kcat beginning
		[ "$(cat "$work/got")" = "$1" ] && return 0
		sleep 1 # polling for a cleaner pass, which the node runs on its own clock
	done
	fail "after 90s $TOPIC holds $(wc -l <"$work/got") records, the last: $(tail -n 1 "$work/got"); want $(echo "$1" | tr '\n' ' ')"
}

# The newest of k1..k4 (offsets 295..298) and k0's tombstone (300), which
# superseded 299: the tombstone, written a moment after the rest, rolled a
# segment (segment.ms=1); that active segment is never cleaned, but its
# records count in the cleaner's key map.
want=$'295 k1=v296\n296 k2=v297\n297 k3=v298\n298 k4=v299\n300 k0=NULL'
wait_log "$want"
echo "kcat: after a cleaner pass, -o beginning -e reached the end: $(echo "$want" | tr '\n' ' ')"

timeout 60 "$PY" -c '
import sys
from kafka import KafkaConsumer, TopicPartition
tp = TopicPartition(sys.argv[2], 0)
c = KafkaConsumer(bootstrap_servers=sys.argv[1], group_id=None, enable_auto_commit=False, consumer_timeout_ms=10000)
c.assign([tp]); c.seek_to_beginning(tp)
end = c.end_offsets([tp])[tp]
for m in c:
	print("%d %s=%s" % (m.offset, m.key.decode(), "NULL" if m.value is None else m.value.decode()))
	if m.offset + 1 >= end:
		break
print("position %d end %d" % (c.position(tp), end))
' "$broker" "$TOPIC" >"$work/py" || fail "kafka-python consume of $TOPIC"
[ "$(cat "$work/py")" = "$want"$'\nposition 301 end 301' ] ||
	fail "kafka-python read $(tr '\n' ' ' <"$work/py"), want $(echo "$want" | tr '\n' ' ') and position 301"
echo "kafka-python: read to the end (301): the same records"

# Passes past the tombstone's delete horizon leave the log as it is: the
# tombstone is its active segment (and its newest batch). (Removing it ended the log in a gap below
# the high watermark, 301, and kcat -e then fetched at 299 for ever.) The
# wait is for the node's own cleaner clock, which nothing can be asked for.
sleep 32 # two passes (15s each) past the horizon
read_kcat beginning
[ "$(cat "$work/got")" = "$want" ] || fail "two passes later kcat read $(tr '\n' ' ' <"$work/got"), want $(echo "$want" | tr '\n' ' ')"
echo "kcat: two passes later, -o beginning -e still reached the end, the tombstone kept (the newest batch)"

# Ten records of k5 (301..310), one kcat run each (so each is a
# millisecond or more after the last and rolls a segment: segment.ms=1),
# make the log below the active segment dirty enough for a pass, which
# stamps the tombstone's delete horizon (delete.retention.ms, 1s), and a
# later one removes it: the log ends at 310, its gaps 0..294 and 299..309.
for i in $(seq 1 10); do
	echo "k5:n$i" | timeout 60 kcat -P -b "$broker" -t "$TOPIC" -p 0 -K: -X request.required.acks=-1 ||
		fail "kcat produce of k5 exited non-zero"
done
want=$'295 k1=v296\n296 k2=v297\n297 k3=v298\n298 k4=v299\n310 k5=n10'
wait_log "$want"
echo "kcat: past the tombstone's delete horizon, -o beginning -e reached the end: $(echo "$want" | tr '\n' ' ')"
read_kcat 299
[ "$(cat "$work/got")" = "310 k5=n10" ] || fail "kcat -o 299 read $(tr '\n' ' ' <"$work/got"), want 310 k5=n10"
echo "kcat: -o 299 (inside a cleaned gap) -e read the next batch, 310, and reached the end"
echo "interop-compaction: PASS (kafka-python created a compacted topic; kcat wrote 300 keyed records and a tombstone; kcat and kafka-python read the cleaned log to its end)"

"""kafka-python group consumer for the group interop test (groups_test.go).

    kafka_python_group.py BOOTSTRAP[,BOOTSTRAP...] TOPIC GROUP

Consumes TOPIC as a member of GROUP with auto-commit (every second), the
session and heartbeat timeouts the test gives every client, and
auto_offset_reset="latest" so that a committed offset the broker lost shows
up as a gap. Prints "R <partition> <offset> <value>" per record, flushed,
and runs until killed. Its log (stderr) has the fetcher's and the offset
coordinator's debug lines: resets and committed-offset fetches are what
tell a lost commit from a client fault.
"""
import logging
import signal
import sys

from kafka import KafkaConsumer


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    bootstrap, topic, group = sys.argv[1].split(","), sys.argv[2], sys.argv[3]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Offset resets and the positions fetched after a rebalance are logged
    # at debug: they are what tells a lost commit from a client bug.
    logging.getLogger("kafka.consumer.fetcher").setLevel(logging.DEBUG)
    logging.getLogger("kafka.coordinator.consumer").setLevel(logging.DEBUG)
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id="ketch-interop-kafka-python",
        enable_auto_commit=True,
        auto_commit_interval_ms=1000,
        auto_offset_reset="latest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    print("kafka-python: broker version detected as %s" % (consumer.config["api_version"],),
          file=sys.stderr, flush=True)
    for msg in consumer:
        sys.stdout.write("R %d %d %s\n" % (msg.partition, msg.offset, msg.value.decode()))
        sys.stdout.flush()


if __name__ == "__main__":
    main()

"""kafka-python client check for interop/run.sh.

    kafka_python_check.py produce BOOTSTRAP TOPIC COUNT   # acks=all, every send must succeed
    kafka_python_check.py consume BOOTSTRAP TOPIC COUNT   # group-less, from the start, in order

Values are "py-value-%06d" % i. Exits non-zero with a one-line reason on any
failure or mismatch.
"""
import sys

from kafka import KafkaConsumer, KafkaProducer


def value(i):
    return ("py-value-%06d" % i).encode()


def produce(bootstrap, topic, count):
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=30000)
    print("kafka-python: broker version detected as %s" % (producer.config["api_version"],))
    futures = [producer.send(topic, value(i)) for i in range(count)]
    producer.flush(timeout=60)
    for i, f in enumerate(futures):
        md = f.get(timeout=30)
        if md.offset != i:
            sys.exit("kafka-python produce: record %d got offset %d, want %d" % (i, md.offset, i))
    producer.close()
    print("kafka-python: produced %d records to %s" % (count, topic))


def consume(bootstrap, topic, count):
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=20000,
    )
    got = 0
    for msg in consumer:
        if got >= count:
            sys.exit("kafka-python consume: more than %d records (offset %d)" % (count, msg.offset))
        if msg.value != value(got) or msg.offset != got:
            sys.exit("kafka-python consume: record %d is offset %d %r, want offset %d %r"
                     % (got, msg.offset, msg.value, got, value(got)))
        got += 1
        if got == count:
            break
    consumer.close()
    if got != count:
        sys.exit("kafka-python consume: read %d of %d records from %s" % (got, count, topic))
    print("kafka-python: consumed %d records from %s in order" % (count, topic))


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("produce", "consume"):
        sys.exit(__doc__)
    cmd, bootstrap, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    (produce if cmd == "produce" else consume)(bootstrap, topic, count)


if __name__ == "__main__":
    main()

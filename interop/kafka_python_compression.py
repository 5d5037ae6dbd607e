"""kafka-python compression check for interop/compression.sh.

    kafka_python_compression.py BOOTSTRAP TOPIC CODEC COUNT

Produces COUNT records with compression_type=CODEC (gzip, snappy, lz4, zstd)
and acks=all, each stamped base+10*i ms (base: now, rounded down to a
second), linger 50 ms so that they travel in a few compressed batches;
reads them back group-less from the start, in order, with their
timestamps; then asks ListOffsets (offsets_for_times) for base+10*k+5,
whose answer must be record k+1: the first record at or after the
timestamp, which sits inside a compressed batch. Exits non-zero with a
one-line reason on any mismatch.
"""
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    bootstrap, topic, codec, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    base = int(time.time()) * 1000
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type=codec,
                             linger_ms=50, batch_size=64 << 10, request_timeout_ms=30000)
    futures = [producer.send(topic, ("py-%s-%06d" % (codec, i)).encode(), partition=0, timestamp_ms=base + 10 * i)
               for i in range(count)]
    producer.flush(timeout=60)
    for i, f in enumerate(futures):
        md = f.get(timeout=30)
        if md.offset != i:
            sys.exit("kafka-python %s produce: record %d got offset %d" % (codec, i, md.offset))
    producer.close()

    tp = TopicPartition(topic, 0)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=20000)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    got = 0
    for msg in consumer:
        want = ("py-%s-%06d" % (codec, got)).encode()
        if msg.offset != got or msg.value != want or msg.timestamp != base + 10 * got:
            sys.exit("kafka-python %s consume: record %d is offset %d %r ts %d, want %r ts %d"
                     % (codec, got, msg.offset, msg.value, msg.timestamp, want, base + 10 * got))
        got += 1
        if got == count:
            break
    if got != count:
        sys.exit("kafka-python %s consume: read %d of %d" % (codec, got, count))

    for k in (0, count // 3, count // 2, count - 2):
        ts = base + 10 * k + 5
        ans = consumer.offsets_for_times({tp: ts})[tp]
        if ans is None or ans.offset != k + 1 or ans.timestamp != base + 10 * (k + 1):
            sys.exit("kafka-python %s: offsets_for_times(%d) = %r, want offset %d ts %d"
                     % (codec, ts, ans, k + 1, base + 10 * (k + 1)))
    if consumer.offsets_for_times({tp: base + 10 * count})[tp] is not None:
        sys.exit("kafka-python %s: offsets_for_times after every record answered an offset" % codec)
    consumer.close()
    print("kafka-python: %s: %d records produced, read back with their timestamps; "
          "ListOffsets by timestamp found records inside compressed batches" % (codec, count))


if __name__ == "__main__":
    main()

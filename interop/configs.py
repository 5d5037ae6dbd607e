"""kafka-python's admin client against a ketch node: a topic created with
configs, described, altered (the legacy AlterConfigs kafka-python sends),
and a produce over max.message.bytes refused. Run by interop/run.sh; exits
non-zero on any mismatch.

    /usr/bin/python3 interop/configs.py HOST:PORT
"""
import os
import sys

from kafka import KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import InvalidConfigurationError, MessageSizeTooLargeError

broker = sys.argv[1]
topic = "py-configs"
admin = KafkaAdminClient(bootstrap_servers=broker, request_timeout_ms=30000)


def fail(msg):
    print("configs.py: " + msg, file=sys.stderr)
    sys.exit(1)


def described():
    res = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    out = {}
    for r in res:
        for resource in r.resources:
            err, _, _, _, entries = resource[:5]
            if err != 0:
                fail("describe: error %d" % err)
            for e in entries:
                out[e[0]] = e[1]
    return out


# A bad value is refused with INVALID_CONFIG (error 40), nothing created.
try:
    admin.create_topics([NewTopic("py-bad", 1, 1, topic_configs={"retention.ms": "soon"})])
    fail("a topic with retention.ms=soon was created")
except InvalidConfigurationError as e:
    print("kafka-python: retention.ms=soon refused with INVALID_CONFIG")

admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": "2048", "message.timestamp.type": "LogAppendTime"})])
got = described()
if got.get("max.message.bytes") != "2048" or got.get("message.timestamp.type") != "LogAppendTime":
    fail("described %s" % got)
print("kafka-python: created %s with max.message.bytes=2048, LogAppendTime; described back" % topic)

p = KafkaProducer(bootstrap_servers=broker, acks="all", max_request_size=1 << 20, retries=0)
try:
    p.send(topic, os.urandom(4000)).get(timeout=30)
    fail("a 4000-byte record was accepted under max.message.bytes=2048")
except MessageSizeTooLargeError:
    pass
md = p.send(topic, b"small").get(timeout=30)
if md.timestamp <= 0:
    fail("LogAppendTime produce answered timestamp %d" % md.timestamp)
print("kafka-python: 4000-byte record refused (MESSAGE_TOO_LARGE); a small one stamped %d" % md.timestamp)

admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": "100000"})])
got = described()
if got.get("max.message.bytes") != "100000" or got.get("message.timestamp.type") != "CreateTime":
    fail("after AlterConfigs (which replaces the whole set) described %s" % got)
p.send(topic, os.urandom(4000)).get(timeout=30)
print("kafka-python: altered max.message.bytes=100000 (the rest back to defaults); 4000 bytes accepted")

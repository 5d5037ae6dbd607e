"""Creates a topic with compression.type=CODEC through kafka-python's admin
client, for interop/compression.sh, and checks DescribeConfigs reports it.

    /usr/bin/python3 interop/topic_codec.py HOST:PORT TOPIC CODEC
"""
import sys

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

broker, topic, codec = sys.argv[1], sys.argv[2], sys.argv[3]
admin = KafkaAdminClient(bootstrap_servers=broker, request_timeout_ms=30000)
admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"compression.type": codec})])
for r in admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)]):
    for resource in r.resources:
        entries = {e[0]: e[1] for e in resource[4]}
        if entries.get("compression.type") != codec:
            sys.exit("topic_codec.py: %s described compression.type=%s, want %s" % (topic, entries.get("compression.type"), codec))
admin.close()

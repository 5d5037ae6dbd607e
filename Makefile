# The front door. `make test` is what CI runs (with `make interop` and a short chaos run).

GO ?= go
# Every fuzz target in wire/, so new ones are picked up without editing this.
FUZZ_TARGETS = $(shell grep -ho '^func Fuzz[A-Za-z0-9_]*' wire/*_test.go 2>/dev/null | sed 's/^func //')
FUZZTIME ?= 30s

.PHONY: sim soak zoo shrink-table run test interop interop-compression interop-compaction interop-protocol interop-groups chaos bench fuzz lint

# The simulator: the failover scenario on a handful of seeds.
# One seed: make sim SEED=7 SCENARIO=partition SEEDS=1
SEED ?= 1
SEEDS ?= 5
SCENARIO ?= failover
sim:
	$(GO) run ./cmd/sim -scenario $(SCENARIO) -seed $(SEED) -seeds $(SEEDS)

# Every scenario on 200 seeds each (about 20 minutes on 2 cores). Each
# scenario's summary says what its fault classes did (stats: crashes, torn
# crashes, pauses, partitions, injected disk failures, restarts ...) and the
# distribution of its ack gap.
SOAK_SEEDS ?= 200
soak:
	@out=$$(mktemp -d); fail=0; \
	for s in $$($(GO) run ./cmd/sim -list); do \
		$(GO) run ./cmd/sim -scenario $$s -seed 1 -seeds $(SOAK_SEEDS) > $$out/$$s.log 2>&1 || fail=1; \
		grep -E '^(summary|stats|ack gap|first failure)' $$out/$$s.log || tail -n 20 $$out/$$s.log; \
	done; \
	if [ $$fail = 1 ]; then echo "soak: FAILED (full output in $$out)"; exit 1; fi; rm -rf $$out; echo "soak: every scenario passed"

# The catch-rate table: every plantable bug on swarm seeds 1..ZOO_SEEDS
# (docs/zoo.md holds the measured one).
ZOO_SEEDS ?= 50
zoo:
	$(GO) run ./cmd/sim -scenario swarm -seed 1 -seeds $(ZOO_SEEDS) -catch-table

# Each plantable bug's first catching swarm seed, shrunk to a smaller run
# failing the same way: faults before and after (docs/zoo.md, "Shrinking").
shrink-table:
	$(GO) run ./cmd/sim -scenario swarm -seed 1 -seeds $(ZOO_SEEDS) -shrink-table

# A one-node cluster on localhost:9092 with its data in ./data.
run:
	$(GO) run ./cmd/node

# Fuzz seed corpora run as ordinary tests here.
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 900s ./...

# kcat and kafka-python against a real cmd/node, across a kill -9, and the
# classic group protocol against kfake's; with INTEROP_GROUPS=1 also
# interop-groups (off until the broker serves the group APIs the clients
# use; then CI runs it).
INTEROP_GROUPS ?= 0
interop:
	./interop/run.sh
	$(MAKE) --no-print-directory interop-compression
	$(MAKE) --no-print-directory interop-compaction
	$(MAKE) --no-print-directory interop-protocol
	@if [ "$(INTEROP_GROUPS)" = 1 ]; then $(MAKE) --no-print-directory interop-groups; \
	else echo "interop: group consumers skipped (make interop-groups, or INTEROP_GROUPS=1)"; fi

# kcat -z and kafka-python's compression_type, every codec, against one
# cmd/node: produce, read back, ListOffsets by timestamp inside compressed
# batches (interop/compression.sh).
interop-compression:
	./interop/compression.sh

# The newcomer's compaction steps against one cmd/node: kafka-python
# creates a compacted topic, kcat writes keyed records and a tombstone, and
# after cleaner passes kcat -e and kafka-python read it to its end
# (interop/compaction.sh; about 90s, the cleaner's 15s passes).
interop-compaction:
	./interop/compaction.sh

# One scripted classic-group conversation per JoinGroup version against
# three cmd/node processes and against kfake, answers compared step by step
# (interop/protocol_diff_test.go).
interop-protocol:
	cd interop && $(GO) vet . && KETCH_GROUPS_DIFF=1 $(GO) test -count=1 -timeout 300s -run '^TestGroupProtocolDiff$$' .

# Real clients as group consumers on three real cmd/node processes, through a
# consumer SIGKILL and a coordinator SIGKILL, every acknowledged record read
# back (interop/groups_test.go; its own module, for sarama). GROUP_TARGET=kfake
# runs the same clients against franz-go's fake broker. sarama's
# ConsumerGroup keeps its coordinator while Metadata lists it, so after the
# coordinator's SIGKILL it waits for the dead broker's session to end (9 s,
# broker.session.timeout.ms, as Kafka) before it finds the new one.
GROUP_TARGET ?= ketch
GROUP_CLIENTS ?= kafka-python,kcat,kgo-range,kgo-sticky,kgo-cooperative-sticky,kgo-848,sarama
interop-groups:
	@command -v kcat >/dev/null && /usr/bin/python3 -c 'import kafka, snappy' 2>/dev/null || \
		{ echo "interop-groups: needs kcat, python3-kafka and python3-snappy (./interop/run.sh installs them)"; exit 1; }
	cd interop && $(GO) vet . && KETCH_GROUPS=$(GROUP_TARGET) KETCH_GROUPS_CLIENTS=$(GROUP_CLIENTS) \
		$(GO) test -count=1 -timeout 900s -v -run '^TestGroupConsumers$$' .

# Three real cmd/node processes under SIGKILL, SIGSTOP and cut peer links,
# driven by franz-go and judged by the checker (about two minutes).
chaos:
	$(GO) run ./cmd/chaos -duration 2m

# ketch vs the disk vs franz-go's in-memory kfake; then the simulator's speed.
bench:
	$(GO) run ./bench/produce
	$(GO) run ./bench/sim

fuzz:
	@test -n "$(FUZZ_TARGETS)" || { echo "no fuzz targets in wire/"; exit 1; }
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) ./wire/ || exit 1; \
	done

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd interop && $(GO) vet ./...

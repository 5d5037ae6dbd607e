# The front door. `make test` is what CI runs (with `make interop`).

GO ?= go
# Every fuzz target in wire/, so new ones are picked up without editing this.
FUZZ_TARGETS = $(shell grep -ho '^func Fuzz[A-Za-z0-9_]*' wire/*_test.go 2>/dev/null | sed 's/^func //')
FUZZTIME ?= 30s

.PHONY: run test interop bench fuzz lint

# A one-node cluster on localhost:9092 with its data in ./data.
run:
	$(GO) run ./cmd/node

# Fuzz seed corpora run as ordinary tests here.
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 900s ./...

# kcat and kafka-python against a real cmd/node, across a kill -9.
interop:
	./interop/run.sh

# ketch vs the disk vs franz-go's in-memory kfake.
bench:
	$(GO) run ./bench/produce

fuzz:
	@test -n "$(FUZZ_TARGETS)" || { echo "no fuzz targets in wire/"; exit 1; }
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) ./wire/ || exit 1; \
	done

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

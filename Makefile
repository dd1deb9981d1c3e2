# The collector's entry points. `make demo` and `make test` work on a fresh Debian 12
# machine: both install the missing Debian packages first (sudo only when not root).

SWIFT ?= swift
DEBIAN_PACKAGES := libmosquitto-dev libsqlite3-dev mosquitto mosquitto-clients pkg-config curl sqlite3 openssl python3 zlib1g-dev libsnappy-dev libnats-dev libpq-dev
# Only the tests need these (a real Alertmanager receives alerts in NotificationTests; a real
# Prometheus scrapes /metrics in PrometheusScrapeTests and, with VictoriaMetrics, takes remote
# writes in RemoteWriteTests; headless Chromium drives the dashboard in DashboardTests).
TEST_PACKAGES := prometheus-alertmanager prometheus chromium python3-venv victoria-metrics nats-server postgresql
# InfluxDB's own Python client writes to us over HTTP in HTTPWriteTests, from this virtualenv.
TEST_VENV := .build/test-venv
INFLUXDB_CLIENT := influxdb-client==1.50.0
# Only the benchmarks need these: the peers we compare with (VictoriaMetrics for queries,
# collectd's MQTT plugin for ingest).
BENCH_PACKAGES := victoria-metrics collectd-core postgresql nats-server
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps test-deps bench-deps install-packages build release test chaos chaos-cluster cluster hostile fuzz demo bench clean

## deps: install the Debian packages the build and the demo need (only missing ones)
deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(DEBIAN_PACKAGES)"

## test-deps: also the packages only the tests use, and a virtualenv with influxdb-client
test-deps: deps
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(TEST_PACKAGES)"
	@$(TEST_VENV)/bin/python -c 'import influxdb_client' 2>/dev/null || \
		{ echo "make test-deps: creating $(TEST_VENV) with $(INFLUXDB_CLIENT)"; \
		  python3 -m venv $(TEST_VENV) && $(TEST_VENV)/bin/pip install -q $(INFLUXDB_CLIENT); }

## bench-deps: also the peers the benchmarks compare with
bench-deps: deps
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(BENCH_PACKAGES)"

install-packages:
	@missing=""; \
	for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$missing"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

## build: debug build of the collector (.build/debug/collector)
build: deps
	$(SWIFT) build --product collector

## release: optimized build (.build/release/collector)
release: deps
	$(SWIFT) build -c release --product collector

## test: every test, unit and integration (each integration test starts its own mosquitto)
test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) build --product collector
	$(SWIFT) test --skip-build
	CHAOS_SHORT=1 ./scripts/chaos.sh
	CHAOS_SHORT=1 ./scripts/chaos-cluster.sh
	CLUSTER_SHORT=1 ./scripts/cluster.sh
	./scripts/hostile.sh

## hostile: the hostile probes (slow bodies, descriptors, revoked tokens, bad input) replayed (~5 s)
hostile: deps build
	./scripts/hostile.sh

## fuzz: libFuzzer on the decoders and the topic matcher, FUZZ_SECONDS each (default 600)
fuzz: deps
	./scripts/fuzz.sh

## chaos: SIGKILLs and broker restarts under a QoS 1 stream; nothing lost, tiers exact (~4 min)
chaos: deps build
	./scripts/chaos.sh

## chaos-cluster: the same promise over a three-node NATS cluster, nodes and the collector SIGKILLed (~2.5 min)
chaos-cluster: test-deps build
	./scripts/chaos-cluster.sh

## cluster: the province without a single point of failure: three NATS nodes, PostgreSQL primary and synchronous replica, two partitions (one with a standby); a node, a collector and the primary SIGKILLed mid-stream; every reading in the shared store once, tiers exact; then alerts through two Alertmanagers (one killed) and federation to VictoriaMetrics (~5 min)
cluster: test-deps build
	./scripts/cluster.sh

## demo: a local mosquitto, the collector, two hours of readings, and example queries
demo: deps build
	./scripts/demo.sh

## bench: in-process benchmarks, end to end against bare mosquitto_sub and collectd, alert latency, memory at a million series, queries, backfills (10 s and 15-minute series), a year of one series against VictoriaMetrics, and a partition's takeover at the province's scale; release builds (figures go to BENCHMARKS.md)
bench: bench-deps
	cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark
	@# The hot path's committed allocation threshold (Benchmarks/Thresholds: 0): fails on any allocation.
	cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark thresholds check --filter "(Hot path|Downsampler|SeriesRings|AlertEngine).*"
	$(SWIFT) build -c release --product collector
	./scripts/bench-e2e.sh
	SERIES=1000000 ./scripts/bench-series-memory.sh
	python3 scripts/bench-query.py
	python3 scripts/bench-backfill.py
	@# 15-minute river gauges: their 1m and 15m tiers are answered from raw readings.
	INTERVAL=900 READINGS=2000000 python3 scripts/bench-backfill.py
	python3 scripts/bench-year.py
	@# A partition's takeover with the whole province's last 26 h to read back (PostgreSQL, NATS).
	./scripts/bench-takeover.sh

clean:
	rm -rf .build data

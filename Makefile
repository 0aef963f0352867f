# Bursar — the two quick-start commands are `make demo` and `make test`.
# Every target installs what it needs first (Debian packages via apt, quietly when present).

SHELL := /bin/bash
BUILD_DIR ?= build
ASAN_DIR  ?= build-asan
FUZZ_DIR  ?= build-fuzz
# Seconds per fuzz target: `make fuzz` (a campaign) and `make test-fuzz` (the short run in CI).
FUZZ_SECONDS ?= 60
FUZZ_TEST_SECONDS ?= 8
CMAKE_FLAGS ?=
CTEST_FLAGS ?= --output-on-failure
JOBS ?= $(shell nproc)
SCENARIO ?= examples/scenarios/three-teams-month.yaml

export CCACHE_DIR ?= $(HOME)/.cache/bursar/ccache
# Paths relative to the checkout and no working directory in the hash: a clone in another folder
# (CI's, a git worktree) reuses what this one compiled.
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= 1

.PHONY: all deps build build-asan test test-unit test-asan demo bench lint format format-check clean \
        cluster-build cluster-up cluster-down test-cluster test-crds-server test-integration \
        test-e2e bench-latency test-helm image demo-cluster \
        build-fuzz fuzz test-fuzz bench-scale test-bench-scale-small

all: build

# Debian packages the build and tests use. tools/install-deps.sh is idempotent and quiet when
# everything is present; it runs apt-get update only when something is missing.
deps:
	@bash tools/install-deps.sh

$(BUILD_DIR)/build.ninja: | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DBURSAR_WERROR=$(if $(CI),ON,OFF) $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

build-asan: deps
	@test -f $(ASAN_DIR)/build.ninja || cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DBURSAR_SANITIZE=ON -DBURSAR_BENCHMARKS=OFF -DBURSAR_WERROR=$(if $(CI),ON,OFF) $(CMAKE_FLAGS)
	cmake --build $(ASAN_DIR) -j $(JOBS) --target bursar_unit_tests

# Every test: formatting, unit and simulation tests (ctest), the unit tests again under
# ASan+UBSan, every fuzz target briefly, then the tests that need a real control plane (built
# once into ~/.cache/bursar).
test: build format-check
	cd $(BUILD_DIR) && ctest $(CTEST_FLAGS) -j $(JOBS)
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-fuzz
	$(MAKE) --no-print-directory test-crds-server test-cluster test-integration test-helm test-e2e \
	  test-bench-scale-small

test-unit: build
	cd $(BUILD_DIR) && ctest $(CTEST_FLAGS) -j $(JOBS) -L unit

test-asan: build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(ASAN_DIR)/tests/bursar_unit_tests --gtest_brief=1

# libFuzzer targets (tests/fuzz) built with clang-14, ASan and UBSan in their own folder; the
# normal build is unchanged. -O1 without NDEBUG: asserts stay on while fuzzing.
build-fuzz: deps
	@test -f $(FUZZ_DIR)/build.ninja || CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_DIR) -G Ninja \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
	  -DBURSAR_FUZZ=ON -DBURSAR_BENCHMARKS=OFF -DBURSAR_WERROR=$(if $(CI),ON,OFF) $(CMAKE_FLAGS)
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target bursar_fuzz_targets

# A fuzzing campaign: every target for FUZZ_SECONDS (FUZZ_TARGETS="yaml json" for a subset).
# New inputs stay in $(FUZZ_DIR)/fuzz-corpus; findings go to $(FUZZ_DIR)/fuzz-artifacts.
fuzz: build-fuzz
	tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The short run in `make test`: every target for FUZZ_TEST_SECONDS on its seed corpus.
test-fuzz: build-fuzz
	tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_TEST_SECONDS) $(FUZZ_TARGETS)

# Only the binary: a fresh machine gets to the demo without compiling the test suites.
demo: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS) --target bursar
	./$(BUILD_DIR)/bursar simulate --scenario $(SCENARIO) --policy bursar --output table \
	  --plot $(BUILD_DIR)/demo-spend.svg
	@echo "Spend against the pacing line, per budget: $(BUILD_DIR)/demo-spend.svg"
	@echo "All four policies side by side: ./$(BUILD_DIR)/bursar simulate --scenario $(SCENARIO) --policy all"

# A live local cluster (the test control plane, kube-scheduler, kwok GPU nodes), the operator,
# three sample budgets and a generated workload, paced in real time; then a summary and teardown.
# DEMO_MINUTES=4 by default. Builds only the binary it runs, as `make demo` does.
demo-cluster: deps $(BUILD_DIR)/build.ninja cluster-build
	cmake --build $(BUILD_DIR) -j $(JOBS) --target bursar
	tests/cluster/with-cluster.sh --with-all -- tools/demo-cluster.sh

bench: build
	./$(BUILD_DIR)/tests/bursar_bench

format-check: deps
	@clang-format --dry-run --Werror $$(git ls-files '*.h' '*.cc')

lint: format-check
	@test -f $(BUILD_DIR)/compile_commands.json || $(MAKE) --no-print-directory build
	@clang-tidy -p $(BUILD_DIR) --quiet $$(git ls-files 'controllers/*.cc' 'operator/*.cc') 2>/dev/null

format:
	clang-format -i $$(git ls-files '*.h' '*.cc')

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR)

# --- A real control plane for integration tests (tests/cluster/, docs/testing.md) ------------
CLUSTER_DIR ?= /tmp/bursar-cluster-$(shell id -un)

# Builds kube-apiserver, kube-scheduler, kube-controller-manager, etcd and kwok from the Go module
# proxy and fetches kubectl and helm, once, into ~/.cache/bursar (~11 min the first time).
cluster-build: deps
	@tests/cluster/build.sh

# A cluster that stays up for development (etcd, apiserver, scheduler, controller-manager, kwok).
cluster-up: cluster-build
	@tests/cluster/up.sh $(CLUSTER_DIR) --with-all
	@echo "use it:  source $(CLUSTER_DIR)/env && export PATH=\$$BURSAR_TEST_BIN_PATH:\$$PATH"
	@echo "stop it: make cluster-down"

cluster-down:
	@tests/cluster/down.sh $(CLUSTER_DIR)

# End-to-end smoke test on a throwaway cluster: CRDs, examples, a kwok GPU node, scheduling,
# Jobs and garbage collection.
test-cluster: cluster-build
	tests/cluster/with-cluster.sh --with-all -- tests/cluster/smoke-test.sh

# The Kubernetes client and runtime against a real kube-apiserver and etcd: CRUD on every kind,
# conflicts, server-side apply ownership, watches across an apiserver restart, 410 after etcd
# compaction, two processes electing one leader; the plan applier; the Prometheus client against
# a real Prometheus scraping a fake DCGM exporter.
# Kueue's CRDs come from the Go module cache (tests/cluster/kueue.sh crds), never from the repo.
test-integration: build cluster-build
	kueue_crds=$$(tests/cluster/kueue.sh crds) && BURSAR_TEST_KUEUE_CRDS=$$kueue_crds \
	  tests/e2e/with-prometheus.sh -- tests/cluster/with-cluster.sh -- $(BUILD_DIR)/tests/bursar_integration_tests

# The operator end to end (tests/e2e): each scenario on its own throwaway cluster with
# kube-scheduler, kube-controller-manager and kwok GPU nodes (the metrics one next to a real
# Prometheus). E2E="1 3" runs a subset.
test-e2e: build cluster-build
	tests/e2e/run-all.sh $(E2E)

# The Helm chart: lint, template, schema, CRD drift, install into a real apiserver, a full
# reconcile with the chart's ServiceAccount token, RBAC denials, upgrade and uninstall.
test-helm: build cluster-build
	tests/cluster/with-cluster.sh -- tests/helm/helm-test.sh

# The container image, with whichever builder is present (docker, podman or buildah).
image: build
	tools/build-image.sh --prebuilt $(BUILD_DIR)/bursar

# Reconcile latency with 1,000 GPU pods on kwok (a measurement; prints min/median/max).
bench-latency: build cluster-build
	tests/cluster/with-cluster.sh --with-all -- tests/e2e/latency.sh $(PODS) $(SAMPLES)

# The scale benchmark (docs/benchmarks.md): N Running GPU pods on kwok nodes, Bursar and a
# client-go informer peer measured side by side in one run (tests/bench/scale/run.sh --help).
# BENCH_PODS=10000 by default; BENCH_ARGS adds options, e.g. "--allocators 'default jemalloc'".
# The Go fixtures build once into ~/.cache/bursar/informer-peer-*/.
BENCH_PODS ?= 10000
BENCH_NAMESPACES ?= 100
BENCH_BUDGETS ?= 100
bench-scale: deps $(BUILD_DIR)/build.ninja cluster-build
	cmake --build $(BUILD_DIR) -j $(JOBS) --target bursar
	tests/cluster/with-cluster.sh --with-kwok -- tests/bench/scale/run.sh --pods $(BENCH_PODS) \
	  --namespaces $(BENCH_NAMESPACES) --budgets $(BENCH_BUDGETS) --samples 20 $(BENCH_ARGS)

# The same at 2,000 pods and 4 budgets, in `make test` so the benchmark cannot rot: fails when a
# measurement is missing (about 2 minutes).
test-bench-scale-small: build cluster-build
	tests/cluster/with-cluster.sh --with-kwok -- tests/bench/scale/run.sh --pods 2000 \
	  --namespaces 4 --budgets 4 --samples 3 --tick 2s

# The CRDs' schemas and CEL rules in a real kube-apiserver: every tests/crds/invalid/ manifest
# is rejected with its message (or, where marked, accepted).
test-crds-server: cluster-build
	tests/cluster/with-cluster.sh -- tests/cluster/crd-server-validation.sh

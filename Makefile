# Bursar — the two quick-start commands are `make demo` and `make test`.
# Every target installs what it needs first (Debian packages via apt, quietly when present).

SHELL := /bin/bash
BUILD_DIR ?= build
# One clang tree with ASan+UBSan serves both the unit tests under sanitizers and the fuzz targets.
SAN_DIR   ?= build-san
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
        test-e2e bench-latency test-helm image test-image demo-cluster \
        san-configure build-fuzz fuzz test-fuzz test-faults bench-scale test-bench-scale-small \
        bench-admission test-offline fixtures-build test-offline-niced test-with-clusters

all: build

# Debian packages the build and tests use. tools/install-deps.sh is idempotent and quiet when
# everything is present; it runs apt-get update only when something is missing.
deps:
	@bash tools/install-deps.sh

# RelWithDebInfo with line tables only (-g1): backtraces keep files and lines, the tree compiles
# and links about a quarter faster than with -g (docs/testing.md), and the image strips debug
# sections anyway.
$(BUILD_DIR)/build.ninja: | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" -DBURSAR_WERROR=$(if $(CI),ON,OFF) $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The sanitizer tree (SAN_DIR): clang-14, ASan+UBSan and libFuzzer's coverage instrumentation on
# every library, -O1 without NDEBUG (asserts stay on). The unit tests run in it under the
# sanitizers and the fuzz targets link libFuzzer's main: one compile of the libraries serves both.
san-configure: deps
	@test -f $(SAN_DIR)/build.ninja || CC=clang-14 CXX=clang++-14 cmake -S . -B $(SAN_DIR) -G Ninja \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
	  -DBURSAR_FUZZ=ON -DBURSAR_BENCHMARKS=OFF -DBURSAR_WERROR=$(if $(CI),ON,OFF) $(CMAKE_FLAGS)

build-asan: san-configure
	cmake --build $(SAN_DIR) -j $(JOBS) --target bursar_unit_tests

# make test packs a fresh machine's work onto its cores by priority (docs/testing.md measures it):
# the C++ tree at normal priority; the Go fixtures beside it from the start (build.sh nices them
# to 10); the cluster tests as soon as the tree and the fixtures are there; and the tests that
# need no cluster (the sanitizer tree, its unit tests, the fuzz runs) at nice 19, in the cycles
# the others leave idle (Go's single-threaded links, the e2e scenarios' waits on wall-clock
# periods). Once everything is cached the order does not matter and nothing is rebuilt.
test: deps
	$(MAKE) --no-print-directory -j3 test-offline-niced test-with-clusters

# Every test that needs no cluster: the format, ctest, the unit tests under ASan+UBSan, the fuzz
# targets.
test-offline: build format-check
	cd $(BUILD_DIR) && ctest $(CTEST_FLAGS) -j $(JOBS)
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-fuzz

# The two halves of make test. Their sub-makes take what this make built as done (-o): two
# ninjas must not run on one build tree at once.
test-offline-niced: build format-check
	nice -n 19 $(MAKE) --no-print-directory -o deps -o build -o format-check test-offline

# Every test that runs against a throwaway control plane; one after the other when run alone,
# up to as many at once as make test has free job slots (each starts its own control plane).
test-with-clusters: build fixtures-build
	$(MAKE) --no-print-directory -o deps -o build -o cluster-build -o fixtures-build test-crds-server test-cluster test-integration test-helm test-e2e \
	  test-image test-bench-scale-small

# Every Go fixture make test runs: the control plane, Kueue, Karpenter, metrics-server (cluster-
# build), the scale benchmark's informer peer and loader, and crane for the image test.
fixtures-build: cluster-build
	@tests/bench/scale/build-peer.sh >/dev/null
	@tests/image/crane.sh >/dev/null

test-unit: build
	cd $(BUILD_DIR) && ctest $(CTEST_FLAGS) -j $(JOBS) -L unit

test-asan: build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(SAN_DIR)/tests/bursar_unit_tests --gtest_brief=1

# libFuzzer targets (tests/fuzz), in the sanitizer tree; the normal build is unchanged.
build-fuzz: san-configure
	cmake --build $(SAN_DIR) -j $(JOBS) --target bursar_fuzz_targets

# A fuzzing campaign: every target for FUZZ_SECONDS (FUZZ_TARGETS="yaml json" for a subset).
# New inputs stay in $(SAN_DIR)/fuzz-corpus; findings go to $(SAN_DIR)/fuzz-artifacts.
fuzz: build-fuzz
	tests/fuzz/run.sh $(SAN_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The short run in `make test`: every target for FUZZ_TEST_SECONDS on its seed corpus.
test-fuzz: build-fuzz
	tests/fuzz/run.sh $(SAN_DIR) $(FUZZ_TEST_SECONDS) $(FUZZ_TARGETS)

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
	rm -rf $(BUILD_DIR) $(SAN_DIR)

# --- A real control plane for integration tests (tests/cluster/, docs/testing.md) ------------
CLUSTER_DIR ?= /tmp/bursar-cluster-$(shell id -un)

# Builds kube-apiserver, kube-scheduler, kube-controller-manager, etcd, kwok, Kueue and
# metrics-server from the Go module proxy and fetches kubectl and helm, once, into ~/.cache/bursar.
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
# compaction, streaming lists (and, on a second cluster with the WatchList gate off, the fallback
# to pages), two processes electing one leader; the plan applier; the Prometheus client against
# a real Prometheus scraping a fake DCGM exporter; the metrics.k8s.io client against the real
# metrics-server scraping kwok (tests/cluster/metrics-server.sh).
# Kueue's, Karpenter's and Cluster API's CRDs come from the Go module cache
# (tests/cluster/{kueue,karpenter,cluster-api}.sh crds), never from the repo. The webhook's
# suspend paths against the real CRDs of JobSet, Kubeflow and KubeRay and the Job schema of
# Kubernetes, all from the Go module cache.
test-integration: build cluster-build
	kueue_crds=$$(tests/cluster/kueue.sh crds) && karpenter_crds=$$(tests/cluster/karpenter.sh crds) \
	  && capi_crds=$$(tests/cluster/cluster-api.sh crds) && BURSAR_TEST_KUEUE_CRDS=$$kueue_crds \
	  BURSAR_TEST_KARPENTER_CRDS=$$karpenter_crds BURSAR_TEST_CLUSTER_API_CRDS=$$capi_crds \
	  tests/e2e/with-prometheus.sh -- tests/cluster/with-cluster.sh --with-kwok -- \
	  tests/cluster/metrics-server.sh with -- $(BUILD_DIR)/tests/bursar_integration_tests
	python3 tests/integration/suspend_paths_check.py
	BURSAR_APISERVER_EXTRA_ARGS=--feature-gates=WatchList=false tests/cluster/with-cluster.sh -- \
	  $(BUILD_DIR)/tests/bursar_integration_tests --gtest_filter='WatchListTest.*'

# The operator end to end (tests/e2e): each scenario on its own throwaway cluster with
# kube-scheduler, kube-controller-manager and kwok GPU nodes (the metrics one next to a real
# Prometheus). E2E="1 3" runs a subset.
test-e2e: build cluster-build
	tests/e2e/run-all.sh $(E2E)

# The fault campaign (tests/faults/campaign.sh, docs/operations.md#fault-campaign): two replicas
# behind TCP fault proxies, every fault FAULT_ROUNDS times, FAULT_KILLS SIGKILLs, a report in
# FAULT_REPORT. Not part of `make test` (20-35 minutes); its short version is e2e scenario 12.
FAULT_ROUNDS ?= 2
FAULT_KILLS ?= 100
FAULT_REPORT ?= $(BUILD_DIR)/fault-campaign.md
test-faults: build cluster-build
	tests/cluster/with-cluster.sh --with-all -- tests/faults/campaign.sh \
	  --rounds $(FAULT_ROUNDS) --kills $(FAULT_KILLS) --report $(FAULT_REPORT)

# The Helm chart: lint, template, schema, CRD drift, install into a real apiserver, a full
# reconcile with the chart's ServiceAccount token, RBAC denials, upgrade and uninstall.
test-helm: build cluster-build
	tests/cluster/with-cluster.sh -- tests/helm/helm-test.sh

# The operator image, without a container daemon (umoci): the binary `make build` produced and
# `make test` ran, as an OCI layout $(BUILD_DIR)/image/oci and an oci-archive
# $(BUILD_DIR)/image/bursar-<version>.oci.tar; prints the reference with its digest.
# IMAGE_REPOSITORY names it (default bursar). `tools/build-image.sh --builder docker` (or podman,
# buildah) builds the same contents from the Dockerfile.
IMAGE_REPOSITORY ?= bursar
image: build
	tools/build-image.sh --binary $(BUILD_DIR)/bursar --out $(BUILD_DIR)/image \
	  --repository $(IMAGE_REPOSITORY)

# The image checked and run (tests/image/image-test.sh): its config, files and the Dockerfile;
# helm template and a crane push with the printed digest; then its root filesystem alone,
# read-only, as uid 65532, runs the chart's args with the chart's ServiceAccount token until a
# full reconcile. About a minute.
test-image: image cluster-build
	tests/cluster/with-cluster.sh -- tests/image/image-test.sh $(BUILD_DIR)/image

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

# Admission latency (docs/operations.md, Admission latency): the webhook with N pods cached at
# 1,000 admissions a minute, straight and through the API server, with and without pod churn
# (tests/bench/admission-latency.sh --help). A measurement, not in `make test`; about 16 minutes
# at 10,000 pods. ADM_ARGS adds options, e.g. "--binary build/bursar --binary other/bursar".
ADM_PODS ?= 10000
ADM_SECONDS ?= 120
bench-admission: deps $(BUILD_DIR)/build.ninja cluster-build
	cmake --build $(BUILD_DIR) -j $(JOBS) --target bursar
	tests/cluster/with-cluster.sh --with-kwok -- tests/bench/admission-latency.sh --pods $(ADM_PODS) \
	  --seconds $(ADM_SECONDS) $(ADM_ARGS)

# The same at 2,000 pods and 4 budgets, in `make test` so the benchmark cannot rot: fails when a
# measurement is missing (about 2 minutes).
test-bench-scale-small: build cluster-build
	tests/cluster/with-cluster.sh --with-kwok -- tests/bench/scale/run.sh --pods 2000 \
	  --namespaces 4 --budgets 4 --samples 3 --tick 2s

# The CRDs' schemas and CEL rules in a real kube-apiserver: every tests/crds/invalid/ manifest
# is rejected with its message (or, where marked, accepted).
test-crds-server: cluster-build
	tests/cluster/with-cluster.sh -- tests/cluster/crd-server-validation.sh

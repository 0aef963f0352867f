# Bursar — the two quick-start commands are `make demo` and `make test`.
# Every target installs what it needs first (Debian packages via apt, quietly when present).

SHELL := /bin/bash
BUILD_DIR ?= build
ASAN_DIR  ?= build-asan
CMAKE_FLAGS ?=
CTEST_FLAGS ?= --output-on-failure
JOBS ?= $(shell nproc)
SCENARIO ?= examples/scenarios/three-teams-month.yaml

export CCACHE_DIR ?= $(HOME)/.cache/bursar/ccache

.PHONY: all deps build build-asan test test-unit test-asan demo bench lint format format-check clean

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

# Every test: formatting, unit and simulation tests (ctest), then the unit tests again under
# ASan+UBSan.
test: build format-check
	cd $(BUILD_DIR) && ctest $(CTEST_FLAGS) -j $(JOBS)
	$(MAKE) --no-print-directory test-asan

test-unit: build
	cd $(BUILD_DIR) && ctest $(CTEST_FLAGS) -j $(JOBS) -L unit

test-asan: build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(ASAN_DIR)/tests/bursar_unit_tests --gtest_brief=1

demo: build
	./$(BUILD_DIR)/bursar simulate --scenario $(SCENARIO) --policy bursar --output table \
	  --plot $(BUILD_DIR)/demo-spend.svg
	@echo "Spend against the pacing line, per budget: $(BUILD_DIR)/demo-spend.svg"
	@echo "All four policies side by side: ./$(BUILD_DIR)/bursar simulate --scenario $(SCENARIO) --policy all"

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
	rm -rf $(BUILD_DIR) $(ASAN_DIR)

# The two commands that matter: `make run` and `make test`. See README.md.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# Compiled by `make test` so the benchmarks keep building; run by `make bench`.
BENCH_TARGETS = pki_bench check_bench telemetry_bench server_sign_bench sign_driver

.PHONY: all deps build run demo test test-unit test-asan fuzz bench clean

all: build

deps:
	bash scripts/deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# The main job: the mesh on loopback (server with a CA made on first start and SQLite, agent,
# an application behind two proxies) until Ctrl-C; state in ./run. See scripts/run.sh.
run: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target mutual
	bash scripts/run.sh $(BUILD)/mutual run

# A guided tour of the PKI commands in ./demo (made afresh: the demo never replaces CA keys).
demo: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target mutual
	rm -rf demo
	./$(BUILD)/mutual demo --dir demo

# Every test: the integration tests against the optimised binary, the unit tests under
# AddressSanitizer and UndefinedBehaviorSanitizer (each unit test is compiled and run once, in
# that build), then a short fuzzing run. `make test-unit` runs the unit tests optimised.
test: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target integration_tests $(BENCH_TARGETS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L integration
	$(MAKE) test-asan
	FUZZ_SECONDS=$${FUZZ_SECONDS:-10} bash fuzz/run.sh

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

test-asan: deps
	cmake -S . -B $(BUILD)-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMUTUAL_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD)-asan -j $(JOBS) --target unit_tests
	cd $(BUILD)-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS) -L unit

fuzz: deps
	bash fuzz/run.sh

bench: build
	bash bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD)-asan build-fuzz run demo

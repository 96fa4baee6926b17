# make run: install what is missing, build, and run `wattle demo` (a month of a simulated mall,
#   reports in ./var/reports, then serving it until Ctrl-C).
# make test: install what is missing, build (plain, ASan+UBSan, fuzz), run every suite and
#   each fuzz target for 15 s (FUZZ_SECONDS); make fuzz runs them for 300 s each.
JOBS := $(shell nproc)
MAKEFLAGS += --no-print-directory

.PHONY: all deps build build-asan build-fuzz test fuzz run bench clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j$(JOBS)

build-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DWATTLE_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)

# The fuzz targets: clang with libFuzzer, ASan and UBSan (tests/fuzz).
build-fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DWATTLE_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j$(JOBS) --target fuzz_targets

test: build build-asan build-fuzz
	@tests/run.sh build build-asan
	@tests/fuzz/run.sh build-fuzz $${FUZZ_SECONDS:-15}

fuzz: build-fuzz
	@tests/fuzz/run.sh build-fuzz $${FUZZ_SECONDS:-300}

run: build
	@scripts/run.sh

bench: build
	@bench/account_read.sh
	@bench/ingest.sh
	@bench/alarms.sh
	@bench/month_close.sh
	@bench/control_latency.sh
	@bench/gateway.sh
	@bench/money.sh
	@bench/messages.sh

clean:
	rm -rf build build-asan build-fuzz

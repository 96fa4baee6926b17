# make run: install what is missing, build, and run `wattle demo` (a month of a simulated mall,
#   reports in ./var/reports, then serving it until Ctrl-C).
# make test: install what is missing, build (plain and ASan+UBSan), run every suite.
JOBS := $(shell nproc)
MAKEFLAGS += --no-print-directory

.PHONY: all deps build build-asan test run bench clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j$(JOBS)

build-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DWATTLE_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)

test: build build-asan
	@tests/run.sh build build-asan

run: build
	@scripts/run.sh

bench: build
	@bench/account_read.sh
	@bench/ingest.sh
	@bench/alarms.sh
	@bench/month_close.sh
	@bench/control_latency.sh

clean:
	rm -rf build build-asan

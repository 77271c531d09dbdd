# The two commands of README.md. Everything else is plain cargo, CMake and ctest.
BUILD ?= build
CMAKE_BUILD_TYPE ?= Debug

.PHONY: build demo test bench

# The Rust library and devserver (through cargo), the C examples and the C tests.
build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(CMAKE_BUILD_TYPE)
	cmake --build $(BUILD) --parallel 2

# Streams the bundled sample through examples-c/transcribe_file and prints the transcript as
# it evolves: against a local fwasr-devserver, or against Fireworks when FIREWORKS_API_KEY is set.
demo: build
	scripts/demo.sh $(BUILD)

# Every test: Rust unit and integration tests, the C tests (plain and under valgrind), and
# the check that the committed header matches the sources.
test: build
	scripts/test.sh $(BUILD)

# The benchmark suite: writes its tables into BENCHMARKS.md and bench/latency.png.
bench:
	bench/run.sh

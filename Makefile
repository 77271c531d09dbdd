# The two commands of README.md. Everything else is plain cargo, CMake and ctest. Each uses a
# build directory of its own, so neither reconfigures a build you made with CMake (`build/`).
DEMO_BUILD ?= build-demo
TEST_BUILD ?= build-test

.PHONY: demo test bench

# Streams the bundled sample through examples-c/transcribe_file and prints the transcript as
# it evolves: against a local fwasr-devserver, or against Fireworks when FIREWORKS_API_KEY is set.
demo:
	cmake -S . -B $(DEMO_BUILD) -DCMAKE_BUILD_TYPE=Debug -DFWASR_BUILD_TESTS=OFF
	cmake --build $(DEMO_BUILD) --parallel 2
	scripts/demo.sh $(DEMO_BUILD)

# Every test: Rust unit and integration tests, the C tests (plain, valgrind, sanitizers), the
# consumers, and the check that the committed header matches the sources.
test:
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(TEST_BUILD) --parallel 2
	scripts/test.sh $(TEST_BUILD)

# The benchmark suite: writes its tables into BENCHMARKS.md and bench/latency.png.
bench:
	bench/run.sh

# The README's two commands. Everything else is CMake.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: all deps build build-asan test demo clean fuzz

all: build

deps:
	./scripts/install-deps

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DBRAID_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

test: build build-asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	./scripts/demo $(BUILD)

# libFuzzer on the protocol decoder: a clang ASan/UBSan build in $(FUZZ_BUILD),
# then FUZZ_SECONDS of fuzz_decode seeded from tests/fuzz/corpus. New inputs
# and any crash-* go to a scratch directory, never into the repository; its
# path is printed (keep what is worth keeping: a gen_seeds or regress- seed).
#   make fuzz FUZZ_SECONDS=600
fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DBRAID_SANITIZE=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_decode
	@out=$$(mktemp -d "$${TMPDIR:-/tmp}/braid-fuzz.XXXXXX") || exit 1; \
	mkdir "$$out/new" || exit 1; echo "fuzz: $(FUZZ_SECONDS)s into $$out (new inputs in new/)"; \
	rc=0; $(FUZZ_BUILD)/tests/fuzz/fuzz_decode -max_total_time=$(FUZZ_SECONDS) -max_len=8300 \
	    -timeout=10 -print_final_stats=1 -artifact_prefix="$$out/" "$$out/new" tests/fuzz/corpus \
	    >"$$out/fuzz.log" 2>&1 || rc=$$?; \
	grep -E '^(INFO: seed corpus|#[0-9]+[[:space:]]+(INITED|DONE)|Done [0-9]+ runs|stat::)' \
	    "$$out/fuzz.log"; \
	if [ $$rc -ne 0 ]; then tail -n 60 "$$out/fuzz.log"; \
	    echo "fuzz: FAILED (libFuzzer exit $$rc); log and artifacts in $$out"; exit 1; fi; \
	echo "fuzz: ok; $$(ls "$$out/new" | wc -l) new inputs in $$out/new, log $$out/fuzz.log"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# Benchmarks (bench/run): a Release build of its own, then the suite.
BENCH_BUILD ?= build-bench
.PHONY: bench bench-quick bench-build

# Only the programs measured (and the bench programs, once bench/ is a
# subdirectory of the build; else bench/run compiles them with cc).
bench-build: deps
	cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BENCH_BUILD) -j $(JOBS) --target braidd braid-worker braid-cli
	-cmake --build $(BENCH_BUILD) -j $(JOBS) --target bench-ceiling bench-load bench-spawn bench-gearman >/dev/null 2>&1

bench: bench-build
	bench/run --build $(BENCH_BUILD)

bench-quick: bench-build
	bench/run --quick --build $(BENCH_BUILD)

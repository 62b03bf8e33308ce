# Thin wrapper over CMake presets. The two set-up commands are `make demo` and `make test`.
JOBS ?= $(shell nproc)
PRESET ?= dev

.PHONY: all deps build release test test-unit fuzz-smoke bench demo clean help

all: build

help:
	@echo "make demo      install, build, start a local 3-validator network, send, audit"
	@echo "make test      install, build (dev preset: ASan+UBSan), run every test"
	@echo "make build     build the dev preset (PRESET=release|tsan|fuzz to choose)"
	@echo "make release   build the release preset"
	@echo "make bench     build release and run every benchmark (one JSON line each)"
	@echo "make deps      install the Debian packages the project needs"

deps:
	@scripts/deps.sh

build: deps
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) -j $(JOBS)

release: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

test: build
	@cd build/$(PRESET) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)
	@$(MAKE) --no-print-directory fuzz-smoke

# A short run of every libFuzzer target when clang is present (the fuzz preset).
fuzz-smoke: deps
	@if command -v clang >/dev/null; then \
	  cmake --preset fuzz >/dev/null && cmake --build --preset fuzz -j $(JOBS) >/dev/null && \
	  scripts/fuzz-smoke.sh build/fuzz; \
	else echo "fuzz-smoke: clang not found, skipped"; fi

bench: release
	@scripts/bench.sh build/release

demo: release
	@if [ -x scripts/demo.sh ]; then scripts/demo.sh; else \
	  echo "make demo: the validator node (squalld) is not built yet; see README.md"; exit 1; fi

clean:
	rm -rf build

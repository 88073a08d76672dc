# poskit — every target bootstraps its own virtual environment, so on a fresh machine with
# Python 3.11 and make, `make demo` and `make test` are the only set-up a user needs.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The demo needs the runtime only; the checks add pytest, hypothesis, ruff and pyright (with
# its Node.js), most of the weight. One venv: `make test` after `make demo` adds to it.
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
# ESP32 stubs live outside the venv: they replace the standard library's stubs, which would
# break type-checking of the CPython half. pyright reads them through .venv-device/.
DEVENV := .venv-device
STUBS  := micropython-esp32-stubs==1.29.0.post1
DSTAMP := $(DEVENV)/.installed

.PHONY: all demo test test-full bench bench-sale bench-chip soak fuzz cuts frozen lint typecheck clean

all: test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e .
	touch $@

$(DEVSTAMP): $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

$(DSTAMP): Makefile $(STAMP)
	rm -rf $(DEVENV)
	mkdir -p $(DEVENV)/lib/python3.11/site-packages
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps \
	    --target $(DEVENV)/typings $(STUBS) micropython-stdlib-stubs==1.29.0.post2
	touch $@

# The self-test, then the installer's device check on a throw-away virtual terminal: every
# peripheral driven through its emulator (docs/examples/vterm-device-check.vts); then the
# installer's first hour: `poskit install` of a two-application job on a blank virtual
# terminal against the host simulator (docs/install.md, tools/demo.py), its record, report
# and slips in build/demo-install/record/.
demo: $(STAMP)
	$(BIN)/poskit selftest
	rm -rf build/demo-vterm
	$(BIN)/poskit vterm --headless --flash build/demo-vterm/flash.img \
	    --script docs/examples/vterm-device-check.vts
	$(BIN)/python -m tools.demo --install

lint: $(DEVSTAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEVSTAMP) $(DSTAMP)
	$(BIN)/pyright -p pyrightconfig.json

# One test worker a core: most of a device test's time is spent waiting on MicroPython,
# a virtual terminal or the host simulator. The terminal application's scripts (e2e) then run
# two at a time, on a machine with nothing else to do: their keys are 80 ms taps, which a
# machine busy with the rest could lose; two virtual terminals keep about one core busy, as
# most of a script is keys held and screens shown for a moment. A file goes whole to one
# worker: some share one terminal, in order (test_hostlink_e2e.py).
E2E := -m e2e -n 2 --dist loadfile
test: lint typecheck
	$(BIN)/pytest -n auto -m 'not slow and not e2e'
	$(BIN)/pytest $(E2E)

# The slow campaigns too (full hypothesis runs, SM4 x1,000,000).
test-full: lint typecheck
	$(BIN)/pytest -n auto -m 'not e2e' --hypothesis-profile=full
	$(BIN)/pytest $(E2E)

bench: $(DEVSTAMP)
	$(BIN)/python -m tools.bench -o docs/benchmarks.md

# make bench's "A sale's flash work" section alone (seconds): a sale on MicroPython beside its
# CPython reference, both writing through LittleFS with the terminal's flash geometry.
bench-sale: $(DEVSTAMP)
	$(BIN)/python -m tools.bench --sale -o docs/benchmarks.md

# make bench's "Chip cards" section alone (a few minutes): a chip sale's kernel and a
# contactless tap on both MicroPython builds beside firmware_tests/cardkernel.py on CPython.
bench-chip: $(DEVSTAMP)
	$(BIN)/python -m tools.bench --chip -o docs/benchmarks.md

# The soak: 10,000 mixed transactions through the engine in the 32-bit build's 110 KB heap,
# against the host simulator, settled every 1,000; every batch balanced, heap after each
# settlement (docs/benchmarks.md, "Soak"; `make bench` runs it too, `make test` a short one).
soak: $(STAMP)
	$(BIN)/python firmware_tests/bench/soak.py --count 10000 --every 1000

# The application frozen into the firmware, as a production ESP32 build: the unix port built
# with device/ frozen, 32-bit and 64-bit (build/frozen/, from ../shared/micropython32's source),
# then a cashier's day (docs/examples/cashier-day.vts) over every bearer in 64 KB on the 32-bit
# build (the ESP32's figure, which governs), and over Ethernet in 110 KB on the 64-bit one
# (docs/board.md, "Heap"). .ci/run runs it after `make test`.
frozen: $(STAMP)
	$(BIN)/python -m tools.frozen

# The parsers of outside data fuzzed on MicroPython, 1,000,000 inputs each, one process a target
# on each core (docs/testing.md); the figures go into docs/benchmarks.md, "Fuzzing".
fuzz: $(STAMP)
	$(BIN)/python -m tools.fuzz --write

# Power cut at every flash write of every transaction flow, clean and torn, 4 KB and 512-byte
# blocks, on MicroPython; the figures go into docs/benchmarks.md, "Power cuts".
cuts: $(STAMP)
	$(BIN)/python -m tools.cuts --write

clean:
	rm -rf $(VENV) $(DEVENV) build .pytest_cache .hypothesis .ruff_cache

"""The fuzz campaign's short run, in `make test`: every target of `make fuzz` (tools/fuzz.py)
fed a few thousand mutated inputs on MicroPython, on both builds, the device code from its
ROMFS image, with no crash; and the harness itself shown to find a crash planted in a canary
parser, and to replay it from what it printed (docs/testing.md, "Fuzzing")."""

import re

import pytest

from tools import fuzz

SHORT = 2000  # inputs per target and interpreter: seconds each
SEED = 7  # another campaign than `make fuzz`'s, the same every run


@pytest.mark.parametrize("target", list(fuzz.TARGETS))
def test_short_campaign_finds_no_crash(target, interpreter):
    outcome = fuzz.run_target(target, count=SHORT, seed=SEED, interpreter=interpreter)
    assert outcome.inputs == SHORT
    assert outcome.crashes == 0, "\n\n".join(outcome.reports)
    # The mutations reach both sides: inputs the parser takes and inputs it refuses.
    assert outcome.accepted and outcome.refused, outcome


def test_harness_finds_and_replays_a_planted_crash():
    outcome = fuzz.run_target("canary", count=3000, seed=SEED)
    assert outcome.crashes, outcome.output[-2000:]
    report = next(r for r in outcome.reports if "KeyError" in r)
    assert "KeyError @" in report and "fuzz_canary.py" in report
    line = re.search(r"^INPUT (\S+)$", report, re.M).group(1)
    index = int(re.search(r"input (\d+):", report).group(1))
    # Replayed from the input as printed, and made again from the seed and its number.
    status, output = fuzz.run_one("canary", ["replay", line])
    assert status == 1 and "KeyError" in output
    status, output = fuzz.run_one("canary", ["index", str(SEED), str(index)])
    assert status == 1 and "@@INPUT " + line in output and "KeyError" in output
    # A failed check of the target's own is a crash too.
    status, output = fuzz.run_one("canary", ["replay", "0:0006484548454845"])
    assert status == 1 and "Oracle" in output


def test_section_kept_by_make_bench(tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\n## Crypto\n\nfigures\n")
    fuzz.write_section("## Fuzzing\n\nold\n", page)
    fuzz.write_section("## Fuzzing\n\nnew\n", page)
    text = page.read_text()
    assert text.count("## Fuzzing") == 1 and "new" in text and "old" not in text
    assert fuzz.section(text) == "## Fuzzing\n\nnew\n"
    assert fuzz.without_section(text).rstrip() == "# Benchmarks\n\n## Crypto\n\nfigures"


def test_a_run_that_says_nothing_is_killed():
    # A parser that loops without reading the clock is caught by the host: a progress line
    # is due every 16,384 inputs. Here the engine target's set-up (a sign-on and sixteen
    # scenarios recorded) outlasts a tenth of a second.
    with pytest.raises(fuzz.FuzzError, match="nothing said"):
        fuzz.run_target("engine", count=10, stall=0.1)

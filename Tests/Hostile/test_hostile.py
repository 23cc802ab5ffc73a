"""The hostile-input catalogue: every case in `cases/*.json` run against the release CLI.

Each case builds its input from a fixture and the mutations its data describes, runs one command line
under RLIMIT_AS / RLIMIT_CPU (and a wall-clock stop), and asserts: the expected exit status (2 for bad input,
64 for a bad command line), exactly one `error:` line (optionally followed by one `hint:` line; for 64 the
argument parser's `Error:` line and its usage lines) containing the expected fragment and no crash report, and that nothing under the case folder (input, output parent) was created, removed or changed.
Run with `make hostile` (part of `make test`); README.md describes the case format.
"""
import os
import re
import shutil

import pytest

import hostile

CASES = hostile.load_cases()


def _param(c):
    marks = []
    if c.get("xfail"):
        # Fixed on another branch; the integrator flips these when merging (strict: an unexpected pass fails).
        marks.append(pytest.mark.xfail(reason=c["xfail"], strict=True))
    return pytest.param(c, id=c["name"], marks=marks)


@pytest.fixture(scope="session")
def fixture_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("hostile-fixtures"))


def test_catalogue_is_well_formed():
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    assert len(CASES) >= 60
    for c in CASES:
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", c["name"]), c["name"]
        assert {"name", "fixture", "command", "expect"} <= c.keys(), c["name"]
        assert c["expect"]["exit"] in (2, 64) and c["expect"]["error"], c["name"]


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_hostile_case(case, fixture_cache, tmp_path):
    case_dir = str(tmp_path)
    base = hostile.build_fixture(case["fixture"], fixture_cache)
    shutil.copytree(base, os.path.join(case_dir, "in"), symlinks=True)
    for m in case.get("mutations", []):
        hostile.apply_mutation(case_dir, m)
    args = [a.replace("{in}", os.path.join(case_dir, "in")).replace("{case}", case_dir)
             .replace("{out}", os.path.join(case_dir, "out")) for a in case["command"]]
    before = hostile.snapshot(case_dir)

    status, stdout, stderr = hostile.run_bounded(args, cwd=case_dir, timeout=case.get("timeout_s", hostile.WALL_SECONDS))

    after = hostile.snapshot(case_dir)
    assert status is not None, f"still running after {case.get('timeout_s', hostile.WALL_SECONDS)} s (a hang)"
    assert status == case["expect"]["exit"], f"exit {status} (signal {-status if status < 0 else '-'}), stderr:\n{stderr[-2000:]}"
    lines = [l for l in stderr.splitlines() if l.strip()]
    if status == 64:
        # A usage error: the argument parser's `Error: …` line, then the usage it prints.
        errors = [l for l in lines if l.startswith("Error: ")]
        assert len(errors) == 1 and lines[0] == errors[0], f"expected one usage error line, got:\n{stderr[-2000:]}"
    else:
        errors = [l for l in lines if l.startswith("error: ")]
        assert len(errors) == 1, f"expected one error line, got:\n{stderr[-2000:]}"
        assert all(l.startswith(("error: ", "hint: ")) for l in lines) and len(lines) <= 2, f"stderr has more than error+hint:\n{stderr[-2000:]}"
    assert not re.search(r"Fatal error|Swift runtime failure|Stack dump|Illegal instruction|Segmentation", stderr)
    assert case["expect"]["error"].lower() in errors[0].lower(), f"{case['expect']['error']!r} not in {errors[0]!r}"
    created = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    assert not (created or removed or changed), f"disk changed: created {created[:5]}, removed {removed[:5]}, changed {changed[:5]}"

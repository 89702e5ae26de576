"""Calibrator names cannot reach files outside the shipped calibrators folder (issue 22, item 7)."""

from __future__ import annotations

import json
import shutil
from importlib import resources

import pytest

from ctx_core.udcg.calibration import load_calibrator


def test_shipped_names_and_json_paths_load(tmp_path):
    shipped = load_calibrator("hybrid-hotpotqa")
    copy = tmp_path / "mine.json"
    source = resources.files("ctx_core") / "data" / "calibrators" / "hybrid-hotpotqa.json"
    copy.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_calibrator(copy).to_dict() == shipped.to_dict()
    assert load_calibrator(str(copy)).to_dict() == shipped.to_dict()


@pytest.mark.parametrize(
    "name",
    [
        "../calibrators/hybrid-hotpotqa",  # out of the folder and back: still a traversal
        "../../udcg/../data/calibrators/minilm-dl19",
        "..",
        "sub/hybrid-hotpotqa",
        "",
    ],
)
def test_names_cannot_leave_the_calibrators_folder(name):
    with pytest.raises(ValueError, match="calibrator"):
        load_calibrator(name)


def test_absolute_name_without_suffix_is_not_read(tmp_path):
    # Before the fix, "/some/where/evil" was joined to the folder and read as evil.json.
    source = resources.files("ctx_core") / "data" / "calibrators" / "hybrid-hotpotqa.json"
    evil = tmp_path / "evil.json"
    with resources.as_file(source) as path:
        shutil.copyfile(path, evil)
    json.loads(evil.read_text())  # a valid calibrator file: only the name rule stops it
    with pytest.raises(ValueError, match="calibrator"):
        load_calibrator(str(tmp_path / "evil"))


def test_unknown_name_lists_the_shipped_ones():
    with pytest.raises(ValueError, match="hybrid-hotpotqa"):
        load_calibrator("no-such-calibrator")

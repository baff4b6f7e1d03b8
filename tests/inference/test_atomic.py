"""The one atomic writer: the old file or the new one, never a part, and nothing left behind."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from inference.atomic import (
    atomic_path,
    replace_directory,
    staged_directory,
    write_bytes,
    write_json,
    write_text,
)


class Unserializable:
    pass


def test_writes_text_bytes_and_json(tmp_path: Path):
    write_text(tmp_path / "a" / "b.txt", "caf\u00e9\n")
    write_bytes(tmp_path / "c.bin", b"\x00\xff")
    write_json(tmp_path / "d.json", {"name": "caf\u00e9"})
    write_json(tmp_path / "e.json", {"name": "caf\u00e9"}, indent=1, ensure_ascii=True)
    assert (tmp_path / "a" / "b.txt").read_bytes() == "caf\u00e9\n".encode()
    assert (tmp_path / "c.bin").read_bytes() == b"\x00\xff"
    assert (tmp_path / "d.json").read_text(encoding="utf-8") == '{\n  "name": "caf\u00e9"\n}\n'
    assert (tmp_path / "e.json").read_text(encoding="ascii") == '{\n "name": "caf\\u00e9"\n}\n'


def test_a_failure_mid_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path):
    target = tmp_path / "report.json"
    write_json(target, {"old": True})
    with pytest.raises(TypeError):
        write_json(target, {"new": Unserializable()})  # fails while serialising
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text('{"half', encoding="utf-8")
        raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text(encoding="utf-8")) == {"old": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_a_new_file_gets_the_permissions_of_an_ordinary_open(tmp_path: Path):
    previous = os.umask(0o027)
    try:
        write_text(tmp_path / "a.txt", "x")
        with atomic_path(tmp_path / "b.bin") as temporary:
            temporary.write_bytes(b"x")
    finally:
        os.umask(previous)
    for name in ("a.txt", "b.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640


def test_replace_directory_swaps_in_the_new_one(tmp_path: Path):
    output, staging = tmp_path / "model", tmp_path / ".model.staging"
    output.mkdir()
    (output / "old.txt").write_text("old")
    staging.mkdir()
    (staging / "new.txt").write_text("new")
    replace_directory(staging, output)
    assert [p.name for p in output.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_a_staged_directory_replaces_the_output_only_when_complete(tmp_path: Path):
    output = tmp_path / "model"
    output.mkdir()
    (output / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), staged_directory(output) as staging:
        (staging / "half.txt").write_text("half")
        raise RuntimeError("the build failed")
    assert [p.name for p in output.iterdir()] == ["old.txt"]
    with staged_directory(output) as staging:
        (staging / "new.txt").write_text("new")
    assert [p.name for p in output.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # nothing staged or retired is left

"""The command line's surface: every command's ``--help`` (names, options, defaults, help texts) is
pinned in ``tests/data/cli_help.txt``, so moving code behind the CLI cannot change what users see.
After a deliberate change to an option, rewrite the file with
``CLI_HELP_UPDATE=1 python -m pytest tests/training/test_cli.py``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from training.cli import build_parser, main

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "cli_help.txt"
WIDTH = "100"  # argparse wraps help to $COLUMNS


def commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of ``parser``, the top level first: (), ("train",), ("links", "show"), ..."""
    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += commands(sub, (*prefix, name))
    return found


def help_texts() -> str:
    parser = build_parser()
    sections = []
    for path in commands(parser):
        target = parser
        for name in path:
            target = next(
                a for a in target._actions if isinstance(a, argparse._SubParsersAction)
            ).choices[name]
        sections.append(f"=== conflict-ie {' '.join(path)} --help ===\n{target.format_help()}")
    return "\n".join(sections)


@pytest.fixture(autouse=True)
def fixed_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", WIDTH)


def test_every_help_text_is_unchanged() -> None:
    if os.environ.get("CLI_HELP_UPDATE"):
        SNAPSHOT.write_text(help_texts(), encoding="utf-8")
    assert help_texts() == SNAPSHOT.read_text(encoding="utf-8")


def test_help_exits_zero_and_prints_the_pinned_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["links", "apply", "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out in SNAPSHOT.read_text(encoding="utf-8")


def test_a_usage_error_names_the_command_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["suggest", "--model", str(tmp_path), "--pool", "x.txt", "-k", "0"]) == 2
    assert capsys.readouterr().err == "conflict-ie suggest: error: -k must be at least 1\n"


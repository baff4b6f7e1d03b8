"""What several commands share: the usage error, option help texts, reading predict-style inputs,
accelerate's multi-process state. Light at import time, like every module of the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

PRECISION_HELP = (
    "PyTorch models: auto = fp16 on CUDA, bf16 on CPUs with native bf16, else fp32; "
    "OpenVINO exports: auto = the fastest the CPU supports, or fp32, bf16, int8; "
    "ONNX exports: auto = int8 on a CPU (fp32 where it would saturate, and on CUDA), or fp32, int8"
)
BATCH_SIZE_HELP = "windows per forward pass (default: 16 on CPU, 64 on CUDA)"
DEFAULT_SPLITS = [f"data/annotations/{split}.jsonl" for split in ("train", "dev", "test")]


class UsageError(ValueError):
    """A command's arguments or inputs that cannot be used: ``main`` prints it and exits 2."""


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise UsageError(f"{path} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}: invalid JSON ({error})") from error


def refuse_directory_output(output: str | None) -> None:
    if output and Path(output).is_dir():
        raise UsageError(f"--output {output} is a directory; give the file to write")


PREDICT_INPUTS = (
    ".jsonl (one {id, text} object a line), .json (an array of {id, text} objects; "
    "either suffix in any case) or plain text (any other name)"
)


def read_inputs(paths: list[str]) -> list[tuple[str, str]]:
    """(id, text) pairs of every input file (see ``PREDICT_INPUTS``); all are read before any work.

    Output lines are keyed by id, so an id twice (in one file, in two files, or one file named
    twice) is refused with the places of both occurrences."""
    from training.corpus.textfiles import read_utf8

    located: list[tuple[str, str, str]] = []  # (id, text, place)
    named: dict[Path, list[int]] = {}  # a file named more than once: its input positions
    for position, name in enumerate(paths, start=1):
        named.setdefault(Path(name).resolve(), []).append(position)
    for position, name in enumerate(paths, start=1):
        path = Path(name)
        if path.is_dir():
            raise UsageError(f"input {path} is a directory; predict reads files: {PREDICT_INPUTS}")
        if not path.exists():
            raise UsageError(f"input file {path} does not exist")
        text = read_utf8(path)
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            items = _jsonl_inputs(path, text)
        elif suffix == ".json":
            items = _json_array_inputs(path, text)
        else:
            items = [(path.stem, text, str(path))]
        mark = f" [input {position}]" if len(named[path.resolve()]) > 1 else ""
        located += [(doc_id, item_text, place + mark) for doc_id, item_text, place in items]
    _refuse_duplicate_ids(located, [(str(p), n) for p, n in named.items() if len(n) > 1])
    return [(doc_id, text) for doc_id, text, _ in located]


def _refuse_duplicate_ids(located: list[tuple[str, str, str]], repeated: list[tuple[str, list[int]]]) -> None:
    """Refuse an id seen twice, naming both places; ``repeated``: files named more than once."""
    first: dict[str, str] = {}
    problems = []
    for doc_id, _, place in located:
        if doc_id in first:
            problems.append(f"{place}: duplicate id {doc_id!r} (first at {first[doc_id]})")
        else:
            first[doc_id] = place
    if not problems:
        return
    notes = [f"{path} is named {len(at)} times (inputs {', '.join(map(str, at))})\n" for path, at in repeated]
    shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
    raise UsageError(
        f"{len(problems)} duplicate id(s) in the inputs; each output line is keyed by its id, so ids must "
        "be unique across all input files (a plain text file's id is its name without the suffix):\n"
        + "".join(notes)
        + "\n".join(shown)
    )


def _jsonl_inputs(path: Path, text: str) -> list[tuple[str, str, str]]:
    items: list[tuple[str, str, str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as error:
            raise UsageError(f"{path}:{number}: invalid JSON ({error.msg})") from error
        items.append(_input_item(raw, f"{path}:{number}", f"{path.name}:{number}"))
    return items


def _json_array_inputs(path: Path, text: str) -> list[tuple[str, str, str]]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}:{error.lineno}: invalid JSON ({error.msg})") from error
    if not isinstance(raw, list):
        raise UsageError(f"{path}: expected a JSON array of {{id, text}} objects (or .jsonl, one a line)")
    return [
        _input_item(item, f"{path}: item {number}", f"{path.name}:{number}")
        for number, item in enumerate(raw, start=1)
    ]


def _input_item(raw: Any, where: str, default_id: str) -> tuple[str, str, str]:
    if not isinstance(raw, dict) or not isinstance(raw.get("text"), str):
        raise UsageError(f"{where}: expected an object with a string 'text'")
    return str(raw.get("id", default_id)), raw["text"], where


def distributed_state() -> Any:
    """accelerate's PartialState when started with several processes (accelerate launch, torchrun)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return None
    import torch
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    # Without cpu=True, accelerate sets up no process group on a machine without GPUs.
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available())
    if state.num_processes != world_size:
        raise UsageError(
            f"started as {world_size} processes, but accelerate set up {state.num_processes}; "
            "on CPU set ACCELERATE_USE_CPU=1"
        )
    return state



"""Time of training's data step (documents -> tokenized windows) on the default config's training
documents with the base model's tokenizer: tokenizing in a plain loop (before the cache), the first
run through ``training_windows`` (tokenizes and writes the cache) and the second (reads it back).

    .venv/bin/python benchmarks/bench_data_step.py [--config training/configs/default.yaml] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def cpu_name() -> str:
    from inference.cpu import this_cpu

    return this_cpu().model_name


def main(argv: list[str] | None = None) -> int:
    from transformers import AutoTokenizer

    from inference.alignment import tag_names
    from training.finetune.config import load_config
    from training.finetune.features import document_windows, training_windows
    from training.finetune.train import resolve_base_model, training_documents

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "training" / "configs" / "default.yaml"))
    parser.add_argument("--repeats", type=int, default=3, help="best of N for each way")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    documents, _, _ = training_documents(config, log=lambda line: print(line, file=sys.stderr))
    tokenizer = AutoTokenizer.from_pretrained(resolve_base_model(config.base_model))
    label2id = {name: i for i, name in enumerate(tag_names())}
    settings = (tokenizer, label2id, config.max_length, config.stride)

    def loop() -> list:
        return [w for d in documents for w in document_windows(d, *settings)]

    timings = {"plain loop (before)": [], "datasets, first run": [], "datasets, cached": []}
    for _ in range(args.repeats):
        started = time.perf_counter()
        expected = loop()
        timings["plain loop (before)"].append(time.perf_counter() - started)
        with tempfile.TemporaryDirectory() as cache:
            for name in ("datasets, first run", "datasets, cached"):
                started = time.perf_counter()
                windows, cached = training_windows(documents, *settings, cache)
                timings[name].append(time.perf_counter() - started)
                assert windows == expected and cached == (name == "datasets, cached")
    base = min(timings["plain loop (before)"])
    print(f"{len(documents)} documents, {len(expected)} windows; {cpu_name()}; best of {args.repeats}")
    print("| data step | seconds | vs plain loop |\n|---|---|---|")
    for name, values in timings.items():
        print(f"| {name} | {min(values):.2f} | {min(values) / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())

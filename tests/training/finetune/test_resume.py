"""Training survives a kill (--resume), and the same seed gives the same metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training.corpus.store import load_documents, write_documents

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def run_config(tmp_path_factory, tiny_base) -> Path:
    work = tmp_path_factory.mktemp("resume")
    write_documents(work / "train.jsonl", load_documents(ROOT / "data/annotations/train.jsonl")[:16])
    write_documents(work / "dev.jsonl", load_documents(ROOT / "data/annotations/dev.jsonl")[:4])
    config = work / "config.yaml"
    config.write_text(
        f"base_model: {tiny_base}\ntrain_file: {work / 'train.jsonl'}\ndev_file: {work / 'dev.jsonl'}\n"
        "epochs: 4\nbatch_size: 4\nmax_length: 64\nstride: 16\nlearning_rate: 1.0e-3\n"
        "augment_strip_punctuation: 0.0\n"
        "augment_feed: 0.0\nfakes_dir: null\nfakes_annotations: null\n"
    )
    return config


def train_command(config: Path, output: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "training.cli", "train", "--config", str(config), "--output", str(output),
            *extra]


def history(output: Path) -> list[tuple[int, float, float]]:
    record = json.loads((output / "training_record.json").read_text())
    return [(h["epoch"], round(h["loss"], 6), round(h["dev_f1"], 6)) for h in record["history"]]


def test_killed_run_resumes_and_matches_an_uninterrupted_run_with_the_same_seed(run_config, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    reference = tmp_path / "reference"
    subprocess.run(train_command(run_config, reference), check=True, cwd=ROOT, env=env, capture_output=True)

    output = tmp_path / "killed"
    progress = tmp_path / ".killed.work" / "progress.json"
    process = subprocess.Popen(train_command(run_config, output), cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not progress.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    epochs_done = json.loads(progress.read_text())["progress"]["epochs_done"]
    assert 1 <= epochs_done < 4, "the kill must land mid-run"
    assert not output.exists(), "a killed run leaves no half-written model directory"

    resumed = subprocess.run(train_command(run_config, output, "--resume"), cwd=ROOT, env=env,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming after epoch {epochs_done}" in resumed.stdout
    assert json.loads((output / "training_record.json").read_text())["resumed"] is True
    assert history(output) == history(reference)
    assert not (tmp_path / ".killed.work").exists(), "checkpoints are removed once the model is saved"


def test_resume_with_another_config_is_refused(run_config, tmp_path, capsys):
    from training.cli import main

    work = tmp_path / ".out.work"
    work.mkdir()
    (work / "progress.json").write_text(json.dumps({"config": {"epochs": 99}, "state": "state-1",
                                                    "progress": {}}))
    code = main(["train", "--config", str(run_config), "--output", str(tmp_path / "out"), "--resume"])
    assert code == 2
    assert "made with another config (differs in epochs)" in capsys.readouterr().err

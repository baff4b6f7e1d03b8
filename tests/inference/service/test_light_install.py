"""A service install (``pip install conflict-ie[serve]``) runs ``conflict-ie serve`` and ``predict``
without the training extras: the packages only ``[train]`` brings are made unimportable in a
subprocess, as if they were not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
from servers import free_port, wait_until_serving

ROOT = Path(__file__).resolve().parents[3]
TRAINING_EXTRAS = ("accelerate", "seqeval", "datasets", "matplotlib", "jinja2")

# ``sys.modules[name] = None`` is how an absent package looks to both ``import`` (ImportError) and
# ``importlib.util.find_spec`` (None), which transformers uses to decide what is available.
RUN_WITHOUT_EXTRAS = f"""
import sys
for name in {TRAINING_EXTRAS!r}:
    sys.modules[name] = None
from training.cli import main
sys.exit(main(sys.argv[1:]))
"""


def cli_without_extras(*args: str) -> list[str]:
    return [sys.executable, "-c", RUN_WITHOUT_EXTRAS, *args]


def test_the_blocker_hides_every_training_extra() -> None:
    for name in TRAINING_EXTRAS:
        probe = RUN_WITHOUT_EXTRAS.replace("from training.cli import main", f"import {name}")
        hidden = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
        assert f"import of {name} halted" in hidden.stderr


def test_serve_and_predict_need_no_training_extras(tiny_model: Path, tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    text = "Rebels killed 12 civilians in the town on Monday."
    (tmp_path / "report.txt").write_text(text, encoding="utf-8")
    predicted = subprocess.run(
        cli_without_extras("predict", "--model", str(tiny_model), str(tmp_path / "report.txt")),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert predicted.returncode == 0, predicted.stderr
    line = json.loads(predicted.stdout.splitlines()[0])
    assert isinstance(line["entities"], list) and isinstance(line["records"], list)

    port = free_port()
    command = cli_without_extras("serve", "--model", str(tiny_model), "--port", str(port))
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(process, port, seconds=90, poll=0.2)
        response = httpx.post(f"http://127.0.0.1:{port}/extract", json={"texts": [text]}, timeout=30)
        assert response.status_code == 200
        assert set(response.json()["results"][0]) >= {"entities", "records"}
    finally:
        process.terminate()
        process.wait(timeout=30)

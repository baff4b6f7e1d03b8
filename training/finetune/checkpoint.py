"""Epoch checkpoints in a hidden work directory beside the output, for ``train --resume``.

Layout: ``.<output>.work/progress.json`` names the last complete ``state-<epoch>`` directory
(accelerate state: model, optimizer, scheduler, RNGs) and holds the history so far;
``best.safetensors`` holds the best epoch's weights. progress.json is replaced only after the state
it names is complete, so a kill at any moment leaves a usable checkpoint.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from inference.atomic import atomic_path, write_json
from training.finetune.config import ConfigError, TrainConfig


@dataclass
class Progress:
    epochs_done: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_f1: float = -1.0
    best_report: dict[str, Any] | None = None
    resumed_from: int = 0


class Checkpoints:
    def __init__(self, output: Path, config: TrainConfig, accelerator: Any) -> None:
        self.directory = output.parent / f".{output.name}.work"
        self.config = config
        self.accelerator = accelerator

    @property
    def _progress_file(self) -> Path:
        return self.directory / "progress.json"

    def start_fresh(self) -> Progress:
        if self.accelerator.is_main_process:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory.mkdir(parents=True)
        self.accelerator.wait_for_everyone()
        return Progress()

    def restore(self, log: Callable[[str], None]) -> Progress:
        if not self._progress_file.is_file():
            log(f"no checkpoint in {self.directory}; starting from the first epoch")
            return self.start_fresh()
        saved = json.loads(self._progress_file.read_text(encoding="utf-8"))
        if saved["config"] != self.config.to_dict():
            changed = sorted(k for k in saved["config"] if saved["config"][k] != self.config.to_dict().get(k))
            raise ConfigError(
                f"the checkpoint in {self.directory} was made with another config (differs in "
                f"{', '.join(changed)}); resume with the same config or start without --resume"
            )
        self.accelerator.load_state(str(self.directory / saved["state"]))
        progress = Progress(**saved["progress"])
        progress.resumed_from = progress.epochs_done
        log(f"resuming after epoch {progress.epochs_done} from {self.directory}")
        return progress

    def save(self, progress: Progress) -> None:
        state = f"state-{progress.epochs_done}"
        self.accelerator.save_state(str(self.directory / state))
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            payload = {"config": self.config.to_dict(), "state": state, "progress": asdict(progress)}
            write_json(self._progress_file, payload, ensure_ascii=True)
            for old in self.directory.glob("state-*"):
                if old.name != state:
                    shutil.rmtree(old, ignore_errors=True)
        self.accelerator.wait_for_everyone()

    def save_best(self, model: Any) -> None:
        from safetensors.torch import save_file

        if self.accelerator.is_main_process:
            state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
            with atomic_path(self.directory / "best.safetensors") as temporary:
                save_file(state, str(temporary))
        self.accelerator.wait_for_everyone()

    def load_best(self) -> dict[str, Any]:
        from safetensors.torch import load_file

        return load_file(str(self.directory / "best.safetensors"))

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

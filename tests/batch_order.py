"""The windows each process trains on, step by step and epoch by epoch, through train's own loader.

``python -m tests.batch_order TOKENIZER OUTPUT`` (under ``accelerate launch`` for several
processes) writes ``OUTPUT/<process index>.json``; test_distributed reads them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Window i is i + OFFSET repeated: the first id of a batch row names the window.
OFFSET = 1000
LENGTHS = [5 + (7 * i) % 53 for i in range(30)]
BATCH_SIZE, SEED, EPOCHS = 4, 13, 3


def batch_order(tokenizer_path: str) -> list[list[list[int]]]:
    """Per epoch, per step, the windows of this process's batch."""
    from accelerate import Accelerator
    from transformers import AutoTokenizer

    from training.finetune.features import WindowFeatures
    from training.finetune.train import set_epoch, training_loader

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    features = [WindowFeatures([i + OFFSET] * n, [0] * n) for i, n in enumerate(LENGTHS)]
    loader, sampler = training_loader(features, tokenizer, BATCH_SIZE, SEED)
    loader = Accelerator().prepare(loader)
    epochs = []
    for epoch in range(1, EPOCHS + 1):
        set_epoch(loader, sampler, epoch)
        epochs.append([(batch["input_ids"][:, 0] - OFFSET).tolist() for batch in loader])
    return epochs


if __name__ == "__main__":
    from accelerate import PartialState

    order = batch_order(sys.argv[1])
    Path(sys.argv[2], f"{PartialState().process_index}.json").write_text(json.dumps(order))

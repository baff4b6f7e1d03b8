"""MUC-4 role-filler entity extraction: a model's test score beside the published ones.

    python benchmarks/muc4_eval.py --model runs/muc4/model [--data ../shared/datasets/muc4] \
        [--split test] [--format grit] [--output muc4_test.json]

Runs the model (``Extractor``) on the split's texts; each distinct normalised span text of a label
is one predicted entity of that role, scored with ``training.evaluation.ree`` (CEAF-REE strict, as GRIT's
``eval.py``), per role and micro-averaged. The published rows are printed with their sources.
Needs the shared MUC-4 data (``../shared/datasets/muc4``); says so and exits 0 where it is absent.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inference.atomic import write_json  # noqa: E402
from training.corpus.formats.muc4 import ROLE_LABELS, read_gold, split_file  # noqa: E402
from training.evaluation.ree import entities_from_spans, ree_scores  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "muc4"
GRIT = "Du, Rush & Cardie, GRIT, EACL 2021 (MUC-4 test, CEAF-REE strict, micro)"
GRIT_RERUN = (
    "reproduced: GRIT's own eval.py on its released predictions model_grit/preds_s_t.out "
    "(github.com/xinyadu/grit_doc_event_entity), 242/377 precision, 242/511 recall"
)
NOT_CHECKED = "NOT verified: from memory of GRIT's baseline table; no copy of the paper here to check it"
# (system, precision, recall, F1, source, how it was checked). GTT (NAACL 2021), IterX and MultiMUC
# report a template-level metric (incident types matched; also called "CEAF-REE" there) that is not
# comparable, so they are not listed; TempGen (EMNLP 2021) uses GRIT's metric and reports +3.26 F1
# over it in its abstract (table not read here).
PUBLISHED = [
    ("CohesionExtract (Huang & Riloff 2012)", 58.38, 39.53, 47.14, GRIT, NOT_CHECKED),
    ("DyGIE++ (Wadden et al. 2019), BERT-base", 57.04, 46.77, 51.40, GRIT, NOT_CHECKED),
    ("NST (Du & Cardie 2020), BERT-base sequence tagging", 56.82, 48.92, 52.58, GRIT, NOT_CHECKED),
    ("GRIT (Du, Rush & Cardie 2021), BERT-base", 64.19, 47.36, 54.50, GRIT, GRIT_RERUN),
]


def predicted_entities(model: str, texts: list[str]) -> tuple[list[dict[str, list[list[str]]]], float]:
    from inference import Extractor

    extractor = Extractor.from_pretrained(model, precision="fp32")
    started = time.perf_counter()
    results = extractor.extract(texts, progress=True)
    seconds = time.perf_counter() - started
    predicted = []
    for entities in results:
        by_label: dict[str, list[str]] = {}
        for entity in entities:
            by_label.setdefault(entity.label, []).append(entity.text)
        predicted.append({label: entities_from_spans(found) for label, found in by_label.items()})
    return predicted, seconds


def cpu_name() -> str:
    from inference.cpu import this_cpu

    return this_cpu().model_name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="the shared muc4 folder")
    parser.add_argument("--split", default="test", choices=["train", "dev", "test"])
    parser.add_argument("--format", default="grit", choices=["grit", "gtt"])
    parser.add_argument("--output", help="write our scores as JSON")
    args = parser.parse_args(argv)
    if not Path(args.data).is_dir():
        print(f"MUC-4 data not found at {args.data}: nothing to score")
        return 0
    gold = read_gold(split_file(args.data, args.split, args.format))
    predicted, seconds = predicted_entities(args.model, [text for _, text, _ in gold])
    roles = list(ROLE_LABELS.values())
    scores = ree_scores([entities for _, _, entities in gold], predicted, roles)
    print(
        f"MUC-4 {args.split} ({args.format} files, {len(gold)} documents), "
        "role-filler entity F1 (CEAF-REE strict)"
    )
    print(f"model {args.model}; extraction {seconds:.1f} s on {cpu_name()}")
    print(f"{'role':10s} {'P':>6s} {'R':>6s} {'F1':>6s}  matched/predicted/gold")
    for role, row in scores["per_role"].items():
        print(
            f"{role:10s} {100 * row['precision']:6.2f} {100 * row['recall']:6.2f} {100 * row['f1']:6.2f}  "
            f"{row['matched']}/{row['predicted']}/{row['gold']}"
        )
    print()
    print(f"{'system (micro average)':55s} {'P':>6s} {'R':>6s} {'F1':>6s}  source")
    for name, p, r, f1, source, checked in PUBLISHED:
        print(f"{name:55s} {p:6.2f} {r:6.2f} {f1:6.2f}  {source}; {checked}")
    micro = scores["micro"]
    ours = f"this model ({Path(args.model).name})"
    print(
        f"{ours:55s} {100 * micro['precision']:6.2f} {100 * micro['recall']:6.2f} "
        f"{100 * micro['f1']:6.2f}  this run"
    )
    if args.output:
        payload = {
            "model": args.model,
            "split": args.split,
            "format": args.format,
            "seconds": seconds,
            **scores,
        }
        write_json(args.output, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""MUC-4 role-filler entity extraction: a model's test score beside the published ones.

    python benchmarks/muc4_eval.py --model runs/muc4/model [--data ../shared/datasets/muc4] \
        [--split test] [--format grit] [--output muc4_test.json]

Runs the model (``Extractor``) on the split's texts; each distinct normalised span text of a label
is one predicted entity of that role, scored with ``training.evaluation.ree`` (CEAF-REE strict, as GRIT's
``eval.py``), per role and micro-averaged. The published rows are printed with their sources.
Needs the shared MUC-4 data (``../shared/datasets/muc4``); says so and exits 0 where it is absent.

    python benchmarks/muc4_eval.py --model runs/muc4/model --tune-min-scores-on dev \
        --output-model runs/muc4-ree/model [--split test]

first chooses a minimum span score per role that maximises this metric (micro) on dev: one
prediction pass without minimums, then coordinate ascent over 0.0..0.95 in steps of 0.05 on those
spans (``training.finetune.calibrate.tune_ree_min_scores``). It prints dev before and after, writes
``--model`` with these minimums as a new model directory (``calibrated_copy``: complete or not at
all; ``--model`` is not touched) and scores ``--split`` with that directory. Test is never a tuning
split.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inference.atomic import write_json  # noqa: E402
from inference.model_dir import read_settings, settings_min_scores  # noqa: E402
from inference.results import Entity  # noqa: E402
from training.corpus.formats.muc4 import ROLE_LABELS, read_gold, split_file  # noqa: E402
from training.evaluation.ree import predicted_entities, ree_scores  # noqa: E402
from training.finetune.calibrate import calibrated_copy, tune_ree_min_scores  # noqa: E402

ROLES = list(ROLE_LABELS.values())
Gold = tuple[str, str, dict[str, list[list[str]]]]
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


def extract(
    model: str, texts: list[str], min_scores: dict[str, float] | None = None
) -> tuple[list[list[Entity]], float]:
    """The model's entities in each text (with its own minimum span scores unless ``min_scores``)."""
    from inference import Extractor

    extractor = Extractor.from_pretrained(model, precision="fp32", min_scores=min_scores)
    started = time.perf_counter()
    results = extractor.extract(texts, progress=True)
    return results, time.perf_counter() - started


def split_scores(
    gold: list[Gold], found: list[list[Entity]], min_scores: dict[str, float] | None = None
) -> dict[str, Any]:
    predicted = [predicted_entities(entities, min_scores) for entities in found]
    return ree_scores([entities for _, _, entities in gold], predicted, ROLES)


def tune(args: argparse.Namespace) -> tuple[dict[str, Any], list[list[Entity]]]:
    """Choose per-role minimums on ``args.tune_min_scores_on`` from one prediction pass without any,
    print that split's scores before and after, and write the calibrated copy of the model."""
    path = split_file(args.data, args.tune_min_scores_on, args.format)
    gold = read_gold(path)
    found, seconds = extract(args.model, [text for _, text, _ in gold], min_scores={})
    min_scores, f1 = tune_ree_min_scores([entities for _, _, entities in gold], found, ROLES)
    own = settings_min_scores(Path(args.model), read_settings(Path(args.model)), tuple(ROLES))
    split = args.tune_min_scores_on
    print(f"MUC-4 {split}: one prediction pass without minimum span scores, {seconds:.1f} s on {cpu_name()}")
    print(f"minimum span scores chosen on {split}: {min_scores or 'none'}")
    print_roles(split_scores(gold, found, min_scores))
    for name, minimums in [
        ("no minimums", {}),
        (f"the model's own, {own or 'none'}", own),
        ("these", min_scores),
    ]:
        print(f"{split} micro with {name}: {percent(split_scores(gold, found, minimums)['micro'])}")
    summary = {
        "metric": "MUC-4 role-filler entity F1 (micro)",
        "dev_file": str(path),
        "dev_f1": f1,
        "source_model": args.model,
        "source_min_scores": own,
    }
    calibrated_copy(args.model, args.output_model, min_scores, summary)
    print(f"wrote {args.output_model}: {args.model} with these minimums")
    return {"min_scores": min_scores, **summary}, found


def percent(row: dict[str, Any]) -> str:
    return f"P {100 * row['precision']:.2f} R {100 * row['recall']:.2f} F1 {100 * row['f1']:.2f}"


def print_roles(scores: dict[str, Any]) -> None:
    print(f"{'role':10s} {'P':>6s} {'R':>6s} {'F1':>6s}  matched/predicted/gold")
    for role, row in scores["per_role"].items():
        print(
            f"{role:10s} {100 * row['precision']:6.2f} {100 * row['recall']:6.2f} {100 * row['f1']:6.2f}  "
            f"{row['matched']}/{row['predicted']}/{row['gold']}"
        )


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
    parser.add_argument(
        "--tune-min-scores-on",
        choices=["train", "dev"],
        help="choose per-role minimum span scores on this split (never test) and score --split with them",
    )
    parser.add_argument("--output-model", help="with --tune-min-scores-on: the calibrated copy of --model")
    args = parser.parse_args(argv)
    if bool(args.tune_min_scores_on) != bool(args.output_model):
        parser.error("--tune-min-scores-on and --output-model go together")
    if not Path(args.data).is_dir():
        print(f"MUC-4 data not found at {args.data}: nothing to score")
        return 0
    model, tuning = args.model, None
    gold = read_gold(split_file(args.data, args.split, args.format))
    if args.tune_min_scores_on:
        tuning, tuned_found = tune(args)
        model = args.output_model
        print()
    if tuning and args.split == args.tune_min_scores_on:  # that split's one pass, filtered here
        scores, seconds = split_scores(gold, tuned_found, tuning["min_scores"]), 0.0
    else:  # the model applies its minimums itself
        found, seconds = extract(model, [text for _, text, _ in gold])
        scores = split_scores(gold, found)
    print(
        f"MUC-4 {args.split} ({args.format} files, {len(gold)} documents), "
        "role-filler entity F1 (CEAF-REE strict)"
    )
    print(f"model {model}; extraction {seconds:.1f} s on {cpu_name()}")
    print_roles(scores)
    print()
    print(f"{'system (micro average)':55s} {'P':>6s} {'R':>6s} {'F1':>6s}  source")
    for name, p, r, f1, source, checked in PUBLISHED:
        print(f"{name:55s} {p:6.2f} {r:6.2f} {f1:6.2f}  {source}; {checked}")
    micro = scores["micro"]
    ours = f"this model ({Path(model).name})"
    print(
        f"{ours:55s} {100 * micro['precision']:6.2f} {100 * micro['recall']:6.2f} "
        f"{100 * micro['f1']:6.2f}  this run"
    )
    if args.output:
        payload = {"model": model, "split": args.split, "format": args.format, "seconds": seconds, **scores}
        if tuning:
            payload["tuning"] = tuning
        write_json(args.output, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())

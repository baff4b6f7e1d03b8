"""Active learning, simulated on the corpus: does choosing the documents to annotate by the model's
uncertainty (``conflict-ie suggest``) beat choosing them at random, at the same budget?

For each seed, the training split is shuffled and its first ``--start`` documents are the annotated
start; the rest is the pool, whose gold annotations stand in for the annotator. A model is trained on
the start, then ``--rounds`` times ``--step`` more documents are added, chosen from the pool either
by ``training.annotate.uncertainty.rank_documents`` with the last model of that arm (the most uncertain
first) or at random, and a model is trained again on all of them. Both arms share the start model
and every setting (``--epochs`` included); only the choice of documents differs. Each model is
scored on the dev split (the best epoch's strict F1, as ``train`` picked it) and on FA-KES gold-dev
(left out where the file is absent). Writes ``active_learning.json``, ``.md`` (mean over seeds and
the spread between them) and ``.png``. Usage:

    .venv/bin/python benchmarks/active_learning.py [--config training/configs/default.yaml]
        [--start 100] [--step 100] [--rounds 2] [--seeds 0 1] [--epochs N] [--set KEY=VALUE ...]
        [--output-dir runs/active_learning] [--fakes PATH] [--device auto]

Models go to ``OUTPUT_DIR/models/seed-<s>/<arm>-<round>`` with the documents they were trained on;
one already there, trained with the same settings on the same documents, is not trained again.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from learning_curve import (  # noqa: E402
    CurveError,
    _scores,
    add_training_arguments,
    evaluate_dir,
    fakes_gold,
    mismatch,
    read_record,
    training_overrides,
)

from inference.atomic import write_text  # noqa: E402

ARMS = ("uncertainty", "random")


def train_round(base: Any, documents: list[Any], model_dir: Path, seed: int, log: Any) -> str:
    """Train on ``documents`` (written beside the model) unless that model is already there."""
    from training.corpus.store import write_documents
    from training.finetune.config import config_from_dict
    from training.finetune.train import train

    model_dir.parent.mkdir(parents=True, exist_ok=True)
    data = model_dir.with_name(f"{model_dir.name}.train.jsonl")
    write_documents(data, documents)
    config = config_from_dict(
        {**base.to_dict(), "train_file": str(data), "train_fraction": 1.0, "seed": seed}
    )
    if (model_dir / "training_record.json").is_file() and not mismatch(read_record(model_dir), config):
        return "cached"
    log(f"training on {len(documents)} documents -> {model_dir}")
    started = time.perf_counter()
    train(config, model_dir, overwrite=True, log=log)
    log(f"trained in {time.perf_counter() - started:.0f} s")
    return "trained"


def choose(
    arm: str, model_dir: Path, pool: list[Any], count: int, rng: random.Random, device: str
) -> list[Any]:
    """The next ``count`` documents of the pool: the model's most uncertain, or a random draw."""
    if arm == "random":
        return rng.sample(pool, min(count, len(pool)))
    from inference.extractor import Extractor
    from training.annotate.uncertainty import rank_documents

    extractor = Extractor.from_pretrained(model_dir, device=device, precision="fp32")
    ranked = rank_documents(extractor, [(d.id, d.text) for d in pool])[:count]
    by_id = {d.id: d for d in pool}
    return [by_id[u.id] for u in ranked]


def score(model_dir: Path, fakes: Path | None, device: str) -> dict[str, Any]:
    scores = {"dev": _scores(read_record(model_dir)["dev"])}
    if fakes is not None:
        scores["fakes_gold_dev"] = _scores(evaluate_dir(model_dir, fakes, device))
    return scores


def run_seed(
    base: Any, documents: list[Any], seed: int, args: argparse.Namespace, fakes: Path | None, log: Any
):
    shuffled = list(documents)
    random.Random(seed).shuffle(shuffled)
    start, pool = shuffled[: args.start], shuffled[args.start :]
    folder = Path(args.output_dir) / "models" / f"seed-{seed}"
    start_model = folder / "start-0"
    source = train_round(base, start, start_model, seed, log)
    start_scores = score(start_model, fakes, args.device)
    points = []
    for arm in ARMS:
        rng = random.Random(f"{seed}-{arm}")
        labelled, remaining, model_dir = list(start), list(pool), start_model
        points.append(point(seed, arm, 0, labelled, start_model, source, start_scores))
        for round_number in range(1, args.rounds + 1):
            chosen = choose(arm, model_dir, remaining, args.step, rng, args.device)
            chosen_ids = {d.id for d in chosen}
            labelled += chosen
            remaining = [d for d in remaining if d.id not in chosen_ids]
            model_dir = folder / f"{arm}-{round_number}"
            trained = train_round(base, labelled, model_dir, seed, log)
            scores = score(model_dir, fakes, args.device)
            points.append(point(seed, arm, round_number, labelled, model_dir, trained, scores))
            log(json.dumps({k: v for k, v in points[-1].items() if k != "model"}))
    return points


def point(
    seed: int, arm: str, round_number: int, labelled: list[Any], model_dir: Path, source: str, scores: dict
) -> dict[str, Any]:
    return {"seed": seed, "arm": arm, "round": round_number, "train_documents": len(labelled),
            "model": str(model_dir), "source": source, **scores}  # fmt: skip


def summary(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per arm and round: the mean over seeds and the spread (max - min) between them."""
    rows = []
    for arm in ARMS:
        for round_number in sorted({p["round"] for p in points}):
            group = [p for p in points if p["arm"] == arm and p["round"] == round_number]
            row: dict[str, Any] = {
                "arm": arm,
                "round": round_number,
                "train_documents": group[0]["train_documents"],
            }
            for split in ("dev", "fakes_gold_dev"):
                values = [p[split]["strict_f1"] for p in group if split in p]
                if values:
                    row[split] = {"mean": statistics.fmean(values), "spread": max(values) - min(values)}
            rows.append(row)
    return rows


def verdict(rows: list[dict[str, Any]]) -> list[str]:
    """At the last round, uncertainty's mean minus random's, against the spread between seeds."""
    last = max(r["round"] for r in rows)
    final = {r["arm"]: r for r in rows if r["round"] == last}
    lines = []
    for split in ("dev", "fakes_gold_dev"):
        if split not in final["uncertainty"]:
            continue
        gain = final["uncertainty"][split]["mean"] - final["random"][split]["mean"]
        spread = max(final["uncertainty"][split]["spread"], final["random"][split]["spread"])
        beyond = "beyond" if gain > spread else "not beyond"
        lines.append(
            f"{split}: uncertainty - random = {gain:+.4f} strict F1 at {final['random']['train_documents']} "
            f"documents, {beyond} the spread between seeds ({spread:.4f})"
        )
    return lines


def markdown(rows: list[dict[str, Any]], settings: dict[str, Any], seeds: list[int]) -> str:
    with_fakes = any("fakes_gold_dev" in r for r in rows)
    head = ["arm", "round", "train docs", "dev strict F1 (mean)", "dev spread"]
    head += ["FA-KES strict F1 (mean)", "FA-KES spread"] if with_fakes else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["arm"], str(r["round"]), str(r["train_documents"])]
        for split in ("dev", "fakes_gold_dev") if with_fakes else ("dev",):
            cells += [f"{r[split]['mean']:.4f}", f"{r[split]['spread']:.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        "",
        *verdict(rows),
        "",
        f"Seeds {seeds}; mean and spread (max - min) over them.",
        f"Settings: {json.dumps(settings, sort_keys=True)}.",
        "dev = the corpus dev split at the best epoch; FA-KES = gold-dev.jsonl; strict seqeval micro F1."
        + ("" if with_fakes else " FA-KES gold-dev was not found: column left out."),
    ]
    return "\n".join(lines + notes) + "\n"


def plot(points: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = [s for s in ("dev", "fakes_gold_dev") if all(s in p for p in points)]
    figure, axes = plt.subplots(1, len(splits), figsize=(5 * len(splits), 4), squeeze=False)
    for axis, split in zip(axes[0], splits, strict=True):
        for arm, marker in zip(ARMS, "os", strict=True):
            for seed in sorted({p["seed"] for p in points}):
                mine = sorted(
                    (p for p in points if p["arm"] == arm and p["seed"] == seed), key=lambda p: p["round"]
                )
                axis.plot([p["train_documents"] for p in mine], [p[split]["strict_f1"] for p in mine],
                          marker=marker, color="C0" if arm == "uncertainty" else "C1", alpha=0.8,
                          label=arm if seed == min(p["seed"] for p in points) else None)  # fmt: skip
        axis.set_title("dev (corpus)" if split == "dev" else "FA-KES gold-dev")
        axis.set_xlabel("annotated training documents")
        axis.set_ylabel("strict micro F1")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle("Uncertainty vs random selection (one line per seed)")
    figure.tight_layout()
    temporary = path.with_name(f".{path.stem}.tmp.png")
    figure.savefig(temporary, dpi=120)
    plt.close(figure)
    temporary.replace(path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_training_arguments(parser, "runs/active_learning")
    parser.add_argument("--start", type=int, default=100, help="annotated documents to start from")
    parser.add_argument("--step", type=int, default=100, help="documents added per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    return parser


def main(argv: list[str] | None = None, log: Any = print) -> int:
    from training.corpus.store import CorpusError, load_documents
    from training.finetune.config import ConfigError, load_config

    args = build_parser().parse_args(argv)
    try:
        base = load_config(args.config, training_overrides(args))
        documents = load_documents(base.train_file)
        if min(args.start, args.step, args.rounds) < 1:
            raise CurveError("--start, --step and --rounds must be at least 1")
        if args.start + args.step * args.rounds > len(documents):
            raise CurveError(
                f"--start {args.start} + {args.rounds} rounds of {args.step} need more than the "
                f"{len(documents)} documents of {base.train_file}"
            )
        fakes = fakes_gold(args, log)
        points = [p for seed in args.seeds for p in run_seed(base, documents, seed, args, fakes, log)]
    except (CurveError, ConfigError, CorpusError) as error:
        print(f"active_learning: error: {error}", file=sys.stderr)
        return 2
    output = Path(args.output_dir)
    settings = {k: v for k, v in base.to_dict().items() if k not in ("train_file", "train_fraction", "seed")}
    settings |= {"start": args.start, "step": args.step, "rounds": args.rounds}
    rows = summary(points)
    result = {"settings": settings, "seeds": args.seeds, "fakes_gold_dev": str(fakes) if fakes else None,
              "summary": rows, "verdict": verdict(rows), "points": points}  # fmt: skip
    write_text(output / "active_learning.json", json.dumps(result, indent=2) + "\n")
    write_text(output / "active_learning.md", markdown(rows, settings, args.seeds))
    plot(points, output / "active_learning.png")
    log(markdown(rows, settings, args.seeds))
    log(f"wrote {output}/active_learning.md, .json and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

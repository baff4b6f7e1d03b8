"""Learning curve: strict micro F1 on dev and on FA-KES gold-dev when training on a share of the
training split (25/50/100% by default), or on the first N annotated FA-KES train articles
(``--fakes-documents 60 125 250``), as a markdown table, JSON and a PNG plot.

Each point is a full training run with the config's settings and ``train_fraction`` set to the share
(the same seeded shuffle, so the 25% documents are inside the 50% ones), or ``fakes_max_documents``
set to N (the first N lines of the standoff file, so smaller points are inside larger ones; 0 = all).
Dev F1 is the best epoch's (the score that picked the epoch, from ``training_record.json``); FA-KES
F1 is measured on that model. Usage:

    .venv/bin/python benchmarks/learning_curve.py [--config training/configs/default.yaml]
        [--fractions 0.25 0.5 1.0 | --fakes-documents 60 125 0] [--epochs N] [--set KEY=VALUE ...]
        [--output-dir runs/learning_curve] [--reuse FULL_MODEL_DIR] [--fakes PATH] [--device auto]

``--reuse DIR`` takes the largest point (100%, or all FA-KES articles) from an already trained model
directory (its training record and an evaluation of it) instead of training again; it must have been
trained with the same settings on the same corpus files and FA-KES annotations. Models go to
``OUTPUT_DIR/models/frac-<share>`` (or ``fakes-<N>``); a point whose model is
already there, trained with the same settings on the same corpus, is not trained again (so a killed
run continues where it stopped). The FA-KES column is left out when the gold file is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FAKES_GOLD = ROOT.parent / "shared" / "datasets" / "fa-kes" / "gold-dev.jsonl"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class CurveError(ValueError):
    pass


def point_config(base: Any, key: str, value: float) -> Any:
    from training.finetune.config import config_from_dict

    return config_from_dict({**base.to_dict(), key: value}, source=f"{key}={value:g}")


def fakes_documents(config: Any) -> int:
    """How many annotated FA-KES articles a training with this config trains on (0 without FA-KES)."""
    if not config.fakes_dir or not config.fakes_annotations or not Path(config.fakes_dir).is_dir():
        return 0
    with Path(config.fakes_annotations).open("rb") as lines:
        available = sum(1 for line in lines if line.strip())
    limit = config.fakes_max_documents
    return (min(limit, available) if limit else available) - config.fakes_calibration_documents


def read_record(model_dir: Path) -> dict[str, Any]:
    from training.finetune.train import RECORD_FILE

    path = model_dir / RECORD_FILE
    if not path.is_file():
        raise CurveError(
            f"{model_dir} has no {RECORD_FILE}: not a model directory written by conflict-ie train"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def mismatch(record: dict[str, Any], config: Any) -> list[str]:
    """Why a trained model is not this point: differing settings, or another corpus."""
    from training.corpus.store import corpus_hash
    from training.finetune.config import TrainConfig

    # A model trained before a key existed was trained with that key's default.
    trained = {**TrainConfig().to_dict(), **record.get("config", {})}
    wanted = config.to_dict()
    reasons = [
        f"{key}: trained with {trained[key]!r}, this curve uses {wanted[key]!r}"
        for key in wanted
        if key != "fakes_max_documents" and trained[key] != wanted[key]
    ]
    # fakes_max_documents 0 ("all") and N mean the same run while the file holds N articles.
    fakes = fakes_documents(config)
    trained_fakes = (record.get("fakes") or {}).get("documents", 0)
    if trained_fakes != fakes:
        reasons.append(f"FA-KES articles: trained on {trained_fakes}, this point uses {fakes}")
    files = [config.train_file, *config.extra_train_files, config.dev_file]
    head = (config.fakes_annotations, fakes + config.fakes_calibration_documents) if fakes else None
    if all(Path(f).is_file() for f in files) and record.get("corpus_sha256") != corpus_hash(files, head):
        reasons.append("corpus: the train/dev files or FA-KES annotations have changed since it was trained")
    return reasons


def evaluate_dir(model_dir: Path, data: Path, device: str) -> dict[str, Any]:
    from inference.extractor import Extractor
    from training.corpus.store import load_documents
    from training.evaluation.report import evaluate_extractor

    documents = load_documents(data)
    extractor = Extractor.from_pretrained(model_dir, device=device, precision="fp32")
    return evaluate_extractor(extractor, documents, details=False)[0]


def _scores(report: dict[str, Any]) -> dict[str, float]:
    return {
        "strict_f1": report["seqeval_strict"]["micro"]["f1"],
        "span_f1": report["span_exact"]["micro"]["f1"],
        **{f"{label}_f1": row["f1"] for label, row in report["seqeval_strict"]["per_label"].items()},
    }


def run_point(
    config: Any, model_dir: Path, reuse: bool, fakes: Path | None, device: str, log: Any
) -> dict[str, Any]:
    from training.finetune.train import train

    if reuse:
        reasons = mismatch(read_record(model_dir), config)
        if reasons:
            raise CurveError(f"--reuse {model_dir} does not fit this curve: " + "; ".join(reasons))
        source = "reused"
    elif (
        model_dir.is_dir()
        and (model_dir / "training_record.json").is_file()
        and not mismatch(read_record(model_dir), config)
    ):
        source = "cached"
    else:
        log(f"training on {config.train_fraction:.0%} of the training split and "
            f"{fakes_documents(config)} FA-KES articles -> {model_dir}")
        started = time.perf_counter()
        train(config, model_dir, overwrite=True, log=log)
        log(f"trained in {time.perf_counter() - started:.0f} s")
        source = "trained"
    from training.corpus.store import load_documents
    from training.finetune.train import select_fraction

    record = read_record(model_dir)
    point: dict[str, Any] = {
        "fraction": config.train_fraction,
        "fakes_documents": fakes_documents(config),
        "model": str(model_dir),
        "source": source,
        "train_documents": len(select_fraction(load_documents(config.train_file), config)),
        "train_documents_with_augmented_copies": record["train_documents"],
        "epochs": config.epochs,
        "best_epoch": record["best_epoch"],
        "train_seconds": record["train_seconds"],
        "dev": _scores(record["dev"]),
    }
    if fakes is not None:
        point["fakes_gold_dev"] = _scores(evaluate_dir(model_dir, fakes, device))
    return point


def by_fakes(points: list[dict[str, Any]]) -> bool:
    """Whether the points vary the FA-KES articles (else the share of the training split)."""
    return len({p["fakes_documents"] for p in points}) > 1


def markdown(points: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    with_fakes = any("fakes_gold_dev" in p for p in points)
    fakes_axis = by_fakes(points)
    head = ["train share", *(["FA-KES articles"] if fakes_axis else []), "train docs", "best epoch"]
    head += ["dev strict F1", "dev span F1"]
    head += ["FA-KES strict F1", "FA-KES span F1"] if with_fakes else []
    head += ["train s", "model"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in points:
        row = [f"{p['fraction']:.0%}", *([str(p["fakes_documents"])] if fakes_axis else [])]
        row += [str(p["train_documents"]), f"{p['best_epoch']}/{p['epochs']}"]
        row += [f"{p['dev']['strict_f1']:.4f}", f"{p['dev']['span_f1']:.4f}"]
        if with_fakes:
            row += [f"{p['fakes_gold_dev']['strict_f1']:.4f}", f"{p['fakes_gold_dev']['span_f1']:.4f}"]
        row += [f"{p['train_seconds']:.0f}", p["source"]]
        lines.append("| " + " | ".join(row) + " |")
    notes = [
        "",
        f"Settings: {json.dumps(settings, sort_keys=True)}.",
        "dev = the corpus dev split at the best epoch (the score that picked it); FA-KES = "
        "gold-dev.jsonl, strict seqeval micro F1 and exact character spans."
        + ("" if with_fakes else " FA-KES gold-dev was not found: column left out."),
    ]
    return "\n".join(lines + notes) + "\n"


def plot(points: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from inference.atomic import atomic_path

    figure, axis = plt.subplots(figsize=(6, 4))
    fakes_axis = by_fakes(points)
    shares = [p["fakes_documents"] if fakes_axis else p["fraction"] * 100 for p in points]
    axis.plot(shares, [p["dev"]["strict_f1"] for p in points], marker="o", label="dev (corpus)")
    if all("fakes_gold_dev" in p for p in points):
        fakes = [p["fakes_gold_dev"]["strict_f1"] for p in points]
        axis.plot(shares, fakes, marker="s", label="FA-KES gold-dev")
    for share, p in zip(shares, points, strict=True):
        axis.annotate(f"{p['train_documents']} docs", (share, p["dev"]["strict_f1"]), fontsize=7,
                      textcoords="offset points", xytext=(0, 6), ha="center")  # fmt: skip
    axis.set_xlabel("annotated FA-KES train articles" if fakes_axis else "share of the training split (%)")
    axis.set_ylabel("strict micro F1")
    axis.set_ylim(0, 1)
    axis.set_xticks(shares)
    axis.grid(alpha=0.3)
    axis.legend()
    axis.set_title("Learning curve")
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=120, format="png")
    plt.close(figure)


def curve_values(args: argparse.Namespace, base: Any) -> list[Any]:
    """The points' values, smallest first; the last is the one ``--reuse`` may give."""
    if args.fakes_documents:
        if any(n < 0 for n in args.fakes_documents):
            raise CurveError("--fakes-documents must be 0 (all) or positive")
        if not fakes_documents(point_config(base, "fakes_max_documents", 0)):
            raise CurveError("--fakes-documents needs FA-KES: fakes_dir or fakes_annotations absent")
        return sorted(set(args.fakes_documents), key=lambda n: n or float("inf"))
    fractions = sorted(set(args.fractions))
    if not all(0 < f <= 1 for f in fractions):
        raise CurveError("--fractions must lie in (0, 1]")
    if args.reuse and 1.0 not in fractions:
        raise CurveError("--reuse gives the 100% point, but 1.0 is not among --fractions")
    return fractions


def add_training_arguments(parser: argparse.ArgumentParser, output_dir: str) -> None:
    """The options of a benchmark that trains models from a config and scores them on FA-KES gold-dev."""
    parser.add_argument("--config", default=str(ROOT / "training" / "configs" / "default.yaml"))
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    parser.add_argument("--epochs", type=int, help="epochs of every training (default: the config's)")
    parser.add_argument("--output-dir", default=output_dir)
    parser.add_argument(
        "--fakes", default=str(FAKES_GOLD), help="FA-KES gold-dev file (its column left out if absent)"
    )
    parser.add_argument("--device", default="auto")


def training_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config keys that ``--set`` and ``--epochs`` override."""
    from training.finetune.config import parse_overrides

    overrides = parse_overrides(args.set)
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    return overrides


def fakes_gold(args: argparse.Namespace, log: Any) -> Path | None:
    """The ``--fakes`` file, or None (and a line in the log) where it is absent."""
    fakes = Path(args.fakes) if args.fakes and Path(args.fakes).is_file() else None
    if fakes is None:
        log(f"FA-KES gold-dev not found at {args.fakes}: that column is left out")
    return fakes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_training_arguments(parser, "runs/learning_curve")
    axis = parser.add_mutually_exclusive_group()
    axis.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    axis.add_argument(
        "--fakes-documents", type=int, nargs="+", metavar="N",
        help="vary the annotated FA-KES articles instead (the first N; 0 = all) on the whole training split",
    )  # fmt: skip
    parser.add_argument("--reuse", help="model directory to use as the 100%% point instead of training it")
    return parser


def main(argv: list[str] | None = None, log: Any = print) -> int:
    from inference.atomic import write_json, write_text
    from training.corpus.store import CorpusError
    from training.finetune.config import ConfigError, load_config

    args = build_parser().parse_args(argv)
    try:
        overrides = training_overrides(args)
        key = "fakes_max_documents" if args.fakes_documents else "train_fraction"
        overrides.pop(key, None)  # each point sets its own
        base = load_config(args.config, overrides)
        values = curve_values(args, base)
        fakes = fakes_gold(args, log)
        output = Path(args.output_dir)
        (output / "models").mkdir(parents=True, exist_ok=True)
        points = []
        for value in values:
            config = point_config(base, key, value)
            reuse = bool(args.reuse) and value == values[-1]
            name = f"fakes-{fakes_documents(config)}" if key == "fakes_max_documents" else f"frac-{value:g}"
            model_dir = Path(args.reuse) if reuse else output / "models" / name
            points.append(run_point(config, model_dir, reuse, fakes, args.device, log))
            log(json.dumps({k: v for k, v in points[-1].items() if k != "model"}))
    except (CurveError, ConfigError, CorpusError) as error:
        print(f"learning_curve: error: {error}", file=sys.stderr)
        return 2
    settings = {k: v for k, v in base.to_dict().items() if k != key}
    result = {"settings": settings, "fakes_gold_dev": str(fakes) if fakes else None, "points": points}
    write_json(output / "learning_curve.json", result, ensure_ascii=True)
    write_text(output / "learning_curve.md", markdown(points, settings))
    plot(points, output / "learning_curve.png")
    log(markdown(points, settings))
    log(f"wrote {output}/learning_curve.md, .json and .png")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())

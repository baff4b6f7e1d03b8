"""Label schemas: which labels a model tags, which carry an outcome, and which play the roles that
count values and casualty records build on.

The default schema is the project's own (``CASUALTY_COUNT`` with outcome killed/injured,
``VICTIM_TYPE``, ``PERPETRATOR``). Any other is named by a training config and saved in the model
directory as ``label_schema.json``; a model directory without that file (every model trained before
schemas) has the default schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inference.spans import CASUALTY_COUNT, LABELS, OUTCOMES, PERPETRATOR, VICTIM_TYPE

SCHEMA_FILE = "label_schema.json"
ROLES = ("count", "victim", "perpetrator")
# The labels the record linker (inference.text.records) knows its roles by.
ROLE_LABELS = {"count": CASUALTY_COUNT, "victim": VICTIM_TYPE, "perpetrator": PERPETRATOR}


class SchemaError(ValueError):
    """A label schema that cannot be used; the message names where it came from."""


@dataclass(frozen=True)
class LabelSchema:
    """``labels`` in order; ``outcomes`` maps the labels that carry an outcome to the allowed ones;
    ``roles`` maps ``count``, ``victim`` and ``perpetrator`` (each optional) to a label."""

    labels: tuple[str, ...]
    outcomes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = schema_problems(self)
        if problems:
            raise SchemaError("; ".join(problems))

    @property
    def count(self) -> str | None:
        return self.roles.get("count")

    @property
    def has_records(self) -> bool:
        """Records link counts to victims and perpetrators: they need a count label."""
        return self.count is not None

    def entity_types(self) -> list[str]:
        """The model's entity types: a label with outcomes is split by outcome, so one head
        predicts span and outcome together."""
        return [
            f"{label}:{outcome}" if outcome else label
            for label in self.labels
            for outcome in self.outcomes.get(label, (None,))
        ]

    def tag_names(self) -> list[str]:
        return ["O"] + [f"{prefix}-{etype}" for etype in self.entity_types() for prefix in ("B", "I")]

    def label_problems(self, label: Any, outcome: Any) -> list[str]:
        """What is wrong with a span's label and outcome under this schema."""
        problems = []
        if label not in self.labels:
            problems.append(f"unknown label {label!r} (expected one of {', '.join(self.labels)})")
        allowed = self.outcomes.get(label)
        if allowed and outcome not in allowed:
            problems.append(f"{label} needs 'outcome' {' or '.join(allowed)}, got {outcome!r}")
        elif not allowed and outcome is not None:
            carriers = ", ".join(self.outcomes) or "no label"
            problems.append(f"'outcome' is only for {carriers}")
        return problems

    def role_label(self, label: str) -> str | None:
        """The record linker's label for ``label``, when ``label`` plays a role."""
        for role, name in self.roles.items():
            if name == label:
                return ROLE_LABELS[role]
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "outcomes": {label: list(values) for label, values in self.outcomes.items()},
            "roles": dict(self.roles),
        }

    @classmethod
    def from_dict(cls, raw: Any, source: str = "label schema") -> LabelSchema:
        """A schema from a list of labels or a mapping ``{labels, outcomes?, roles?}``."""
        if isinstance(raw, list):
            raw = {"labels": raw}
        if not isinstance(raw, dict):
            raise SchemaError(f"{source}: labels must be a list or a mapping with 'labels', got {raw!r}")
        unknown = sorted(set(raw) - {"labels", "outcomes", "roles"})
        if unknown:
            raise SchemaError(f"{source}: unknown key(s) {', '.join(unknown)} (use labels, outcomes, roles)")
        labels, outcomes, roles = raw.get("labels"), raw.get("outcomes") or {}, raw.get("roles") or {}
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise SchemaError(f"{source}: 'labels' must be a list of label names, got {labels!r}")
        if not isinstance(outcomes, dict) or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in outcomes.values()
        ):
            raise SchemaError(f"{source}: 'outcomes' must map labels to lists of outcomes, got {outcomes!r}")
        if not isinstance(roles, dict):
            raise SchemaError(f"{source}: 'roles' must map {', '.join(ROLES)} to labels, got {roles!r}")
        try:
            return cls(tuple(labels), {k: tuple(v) for k, v in outcomes.items()}, dict(roles))
        except SchemaError as error:
            raise SchemaError(f"{source}: {error}") from error


def schema_problems(schema: LabelSchema) -> list[str]:
    problems = []
    if not schema.labels:
        problems.append("a schema needs at least one label")
    duplicates = sorted({x for x in schema.labels if schema.labels.count(x) > 1})
    if duplicates:
        problems.append(f"labels repeated: {', '.join(duplicates)}")
    for label in schema.labels:
        if not label or label == "O" or any(c.isspace() or c in ":-" for c in label):
            problems.append(
                f"label {label!r} must be a non-empty name without spaces, ':' or '-' (and not O)"
            )
    for label, values in schema.outcomes.items():
        if label not in schema.labels:
            problems.append(f"outcomes name {label!r}, which is not a label")
        if not values or len(set(values)) != len(values) or not all(v and ":" not in v for v in values):
            problems.append(f"outcomes of {label!r} must be distinct non-empty names, got {list(values)!r}")
    for role, label in schema.roles.items():
        if role not in ROLES:
            problems.append(f"unknown role {role!r} (roles are {', '.join(ROLES)})")
        elif label not in schema.labels:
            problems.append(f"role {role} names {label!r}, which is not a label")
    return problems


DEFAULT_SCHEMA = LabelSchema(
    LABELS,
    {CASUALTY_COUNT: OUTCOMES},
    {"count": CASUALTY_COUNT, "victim": VICTIM_TYPE, "perpetrator": PERPETRATOR},
)


def schema_from_tag_names(names: list[str]) -> LabelSchema:
    """The schema of a model's tags (``id2label``) when no schema file says more: the default
    schema for the default tags, else the labels and outcomes the tags name, with no roles."""
    if names == DEFAULT_SCHEMA.tag_names():
        return DEFAULT_SCHEMA
    labels: dict[str, list[str]] = {}
    for name in names:
        if name == "O":
            continue
        label, _, outcome = name.split("-", 1)[-1].partition(":")
        outcomes = labels.setdefault(label, [])
        if outcome and outcome not in outcomes:
            outcomes.append(outcome)
    return LabelSchema(tuple(labels), {k: tuple(v) for k, v in labels.items() if v})


def read_schema(directory: Path, names: list[str]) -> LabelSchema:
    """The schema of a model directory, checked against its tags ``names`` (``id2label`` order)."""
    from inference.model_dir import ModelDirError

    path = directory / SCHEMA_FILE
    if not path.is_file():
        return schema_from_tag_names(names)
    try:
        schema = LabelSchema.from_dict(json.loads(path.read_text(encoding="utf-8")), str(path))
    except (json.JSONDecodeError, SchemaError) as error:
        raise ModelDirError(f"{path}: not a label schema ({error})") from error
    if schema.tag_names() != names:
        raise ModelDirError(f"{path}: its tags {schema.tag_names()} are not the model's id2label {names}")
    return schema


def write_schema(directory: Path, schema: LabelSchema) -> None:
    (directory / SCHEMA_FILE).write_text(json.dumps(schema.to_dict(), indent=2) + "\n", encoding="utf-8")


def schema_from_corpus(labels_seen: dict[str, list[str]]) -> LabelSchema:
    """A schema of the labels found in a corpus (label -> outcomes seen, in order of appearance):
    the default schema when they are all default labels with default outcomes; else those labels,
    sorted, with the default roles where a default label is present."""
    if set(labels_seen) <= set(LABELS) and all(
        set(v) <= set(DEFAULT_SCHEMA.outcomes.get(k, ())) for k, v in labels_seen.items()
    ):
        return DEFAULT_SCHEMA
    labels = tuple(sorted(labels_seen))
    outcomes = {k: tuple(sorted(v)) for k, v in labels_seen.items() if v}
    roles = {role: label for role, label in DEFAULT_SCHEMA.roles.items() if label in labels_seen}
    if "count" in roles and roles["count"] not in outcomes:
        roles.pop("count")
    return LabelSchema(labels, outcomes, roles)


def model_schema(directory: str | Path) -> LabelSchema:
    """The schema of a model directory (PyTorch, ONNX or OpenVINO) from its files, without loading
    weights; for an export directory (``fp32/`` and ``int8/``, which share one schema), its ``fp32/``."""
    from inference.model_dir import ModelDirError

    directory = Path(directory)
    if not directory.is_dir():
        raise ModelDirError(f"model directory {directory} does not exist")
    if not (directory / "config.json").is_file() and (directory / "fp32" / "config.json").is_file():
        directory = directory / "fp32"
    path = directory / "config.json"
    if not path.is_file():
        raise ModelDirError(f"{directory}: no config.json; not a Hugging Face model directory")
    try:
        id2label = json.loads(path.read_text(encoding="utf-8"))["id2label"]
        names = [id2label[str(i)] for i in range(len(id2label))]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelDirError(f"{path}: no readable id2label ({error})") from error
    return read_schema(directory, names)

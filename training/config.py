"""Training configuration: a YAML file of known keys, checked before any work starts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    pass


@dataclass
class TrainConfig:
    base_model: str | None = None
    train_file: str = "data/annotations/train.jsonl"
    # More annotated files trained on with train_file (silver data, another team's export); never
    # subsampled by train_fraction, so a learning curve varies the corpus alone.
    extra_train_files: list[str] = field(default_factory=list)
    dev_file: str = "data/annotations/dev.jsonl"
    max_length: int = 256
    stride: int = 64
    learning_rate: float = 2e-4
    epochs: int = 10
    batch_size: int = 16
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 13
    train_fraction: float = 1.0
    augment_strip_punctuation: float = 0.0
    # Share of training documents also rendered as scraped feeds deliver them (training/augment.py).
    augment_feed: float = 0.0
    mixed_precision: str = "no"
    # The project's standoff annotations of FA-KES train articles, joined with the texts of a local
    # FA-KES folder; a folder that does not exist means training on the corpus alone.
    fakes_dir: str | None = None
    fakes_annotations: str | None = None
    fakes_max_documents: int = 0  # 0 = all; else the first N of the annotations (learning curves)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Paths in a config file that are read relative to the file's own folder.
RELATIVE_TO_CONFIG = ("fakes_dir", "fakes_annotations")
OPTIONAL_STRINGS = ("base_model", "fakes_dir", "fakes_annotations")


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` command-line overrides, values read as YAML (``epochs=3`` is an int)."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}")
        overrides[key] = yaml.safe_load(value)
    return overrides


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML ({error})") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a mapping of keys to values")
    for key in RELATIVE_TO_CONFIG:
        if isinstance(raw.get(key), str):
            raw[key] = str(path.parent / raw[key])
    raw.update(overrides or {})
    return config_from_dict(raw, source=str(path))


def config_from_dict(raw: dict[str, Any], source: str = "config") -> TrainConfig:
    known = {f.name: f for f in fields(TrainConfig)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; valid keys are {', '.join(known)}")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        expected = type(getattr(TrainConfig(), name))
        if name in OPTIONAL_STRINGS:
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{source}: {name} must be a string or null")
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, expected) or isinstance(value, bool):
            raise ConfigError(
                f"{source}: {name} must be {expected.__name__}, got {type(value).__name__} {value!r}"
            )
        if name == "extra_train_files" and not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{source}: extra_train_files must be a list of file paths")
        values[name] = value
    config = TrainConfig(**values)
    _check_ranges(config, source)
    return config


def _check_ranges(config: TrainConfig, source: str) -> None:
    checks = [
        (config.max_length >= 16, "max_length must be at least 16"),
        (0 <= config.stride < config.max_length // 2, "stride must be >= 0 and < max_length / 2"),
        (config.learning_rate > 0, "learning_rate must be positive"),
        (config.max_grad_norm > 0, "max_grad_norm must be positive"),
        (config.epochs >= 1, "epochs must be at least 1"),
        (config.batch_size >= 1, "batch_size must be at least 1"),
        (0 <= config.warmup_ratio < 1, "warmup_ratio must be in [0, 1)"),
        (0 < config.train_fraction <= 1, "train_fraction must be in (0, 1]"),
        (0 <= config.augment_strip_punctuation <= 1, "augment_strip_punctuation must be in [0, 1]"),
        (0 <= config.augment_feed <= 1, "augment_feed must be in [0, 1]"),
        (config.fakes_max_documents >= 0, "fakes_max_documents must be >= 0 (0 = all)"),
        (
            (config.fakes_dir is None) == (config.fakes_annotations is None),
            "fakes_dir and fakes_annotations go together (both set or both null)",
        ),
        (config.mixed_precision in ("no", "bf16", "fp16"), "mixed_precision must be no, bf16 or fp16"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{source}: {message}")

"""``conflict-ie``: a thin command line over the library. Heavy imports happen per command."""

from __future__ import annotations

import argparse
import sys

from training.commands import annotate, corpus, evaluation, finetune, release, serving
from training.commands.common import UsageError

# In the order --help lists them: the corpus, fitting, scoring, releasing, serving, annotating.
COMMAND_MODULES = (corpus, finetune, evaluation, release, serving, annotate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conflict-ie", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_parsers(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from inference.model_dir import ModelDirError
    from inference.text.actors import ActorTableError
    from training.corpus.store import CorpusError
    from training.corpus.textfiles import InputFileError
    from training.evaluation.predictions import PredictionsError
    from training.finetune.config import ConfigError
    from training.finetune.features import UnalignedSpanError

    known = (
        UsageError,
        ConfigError,
        CorpusError,
        ModelDirError,
        UnalignedSpanError,
        InputFileError,
        PredictionsError,
        ActorTableError,
    )
    try:
        return args.func(args)
    except known as error:
        print(f"conflict-ie {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

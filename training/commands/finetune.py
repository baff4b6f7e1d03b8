"""Fitting commands: train, calibrate, soup."""

from __future__ import annotations

import argparse


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    for add in (_train, _calibrate, _soup):
        add(subparsers)


def _train(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="fine-tune a model on the corpus")
    p.add_argument("--config", default="training/configs/default.yaml")
    p.add_argument("--output", required=True, help="model directory to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.add_argument("--resume", action="store_true", help="continue a killed run from its last checkpoint")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)"
    )
    p.set_defaults(func=cmd_train)


def _calibrate(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("calibrate", help="choose per-label minimum span scores on dev (train does it)")
    p.add_argument("--model", required=True, help="trained PyTorch model directory")
    p.add_argument("--data", default="data/annotations/dev.jsonl", help="gold .jsonl to choose them on")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_calibrate)


def _soup(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "soup", help="average the weights of several trained models into one (a model soup)"
    )
    p.add_argument("--models", nargs="+", required=True, help="trained PyTorch model directories (2 or more)")
    p.add_argument("--output", required=True, help="model directory to write")
    p.add_argument(
        "--data", default="data/annotations/dev.jsonl", help="gold .jsonl that ranks and calibrates"
    )
    p.add_argument(
        "--method",
        choices=("greedy", "uniform"),
        default="greedy",
        help="greedy: add each model (best on --data first) only if dev F1 does not fall; uniform: all",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.set_defaults(func=cmd_soup)


def cmd_train(args: argparse.Namespace) -> int:
    from training.finetune.config import load_config, parse_overrides
    from training.finetune.train import train

    config = load_config(args.config, parse_overrides(args.set))
    train(config, args.output, overwrite=args.overwrite, resume=args.resume)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from inference.model_dir import check_model_dir
    from training.finetune.calibrate import calibrate

    check_model_dir(args.model)
    result = calibrate(args.model, args.data, device=args.device)
    scores = result["dev_exact_f1"]
    print(
        f"minimum span scores {result['min_scores'] or 'none'}: exact-span micro F1 on {args.data} "
        f"{scores['before']:.4f} -> {scores['after']:.4f}; written to {args.model}"
    )
    return 0


def cmd_soup(args: argparse.Namespace) -> int:
    from training.finetune.soup import make_soup

    make_soup(args.models, args.output, args.data, args.method, args.device, args.overwrite)
    return 0

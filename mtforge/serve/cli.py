"""``mtforge serve`` and ``mtforge serve-reference``: command-line parsers and handlers.

Every :class:`~mtforge.serve.config.ServeConfig` field is a flag (``beam_size`` →
``--beam-size``; booleans as ``--quantize``/``--no-quantize``; lists comma-separated), so the
flags, the ``MTFORGE_SERVE_*`` variables and the config cannot drift apart.
"""

from __future__ import annotations

import argparse
import types
import typing
from pathlib import Path

from mtforge.serve.config import ENV_PREFIX, ServeConfig, comma_list


def _flag_type(annotation: object) -> tuple[dict, str]:
    kind = annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):  # X | None → X
        kind = next(a for a in typing.get_args(annotation) if a is not type(None))
    if kind is bool:
        return {"action": argparse.BooleanOptionalAction}, ""
    if typing.get_origin(kind) is list:
        return {"type": comma_list}, "A,B"
    return {"type": kind}, kind.__name__.upper()


def add_serve_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``serve`` and ``serve-reference`` to the ``mtforge`` subcommands."""
    serve = sub.add_parser("serve", help="serve translation over HTTP (FastAPI): language detection, micro-batching, "
                                         "cache, metrics, A/B routing",
                           description=f"Every flag can also be set as {ENV_PREFIX}<FLAG> (e.g. "
                                       f"{ENV_PREFIX}REDIS_URL); flags win.")
    for name, field in ServeConfig.model_fields.items():
        options, metavar = _flag_type(field.annotation)
        if metavar:
            options["metavar"] = metavar
        serve.add_argument("--" + name.replace("_", "-"), dest=name, default=None, help=field.description, **options)
    serve.set_defaults(func=cmd_serve)

    ref = sub.add_parser("serve-reference", help="write the drift reference (input lengths, languages) of a "
                                                 "training corpus for mtforge serve --drift-reference")
    ref.add_argument("corpus", help="an mtforge corpus folder (e.g. the curate or mine stage's output)")
    ref.add_argument("-o", "--output", required=True, type=Path, help="JSON file to write")
    ref.add_argument("--side", default="src", choices=("src", "tgt"), help="which side the service sees (src)")
    ref.set_defaults(func=cmd_serve_reference)


def cmd_serve(args: argparse.Namespace) -> int:
    from mtforge.serve.app import run_server
    from mtforge.serve.config import load_serve_config

    overrides = {name: getattr(args, name) for name in ServeConfig.model_fields}
    run_server(load_serve_config(overrides))
    return 0


def cmd_serve_reference(args: argparse.Namespace) -> int:
    from mtforge.serve.drift import reference_from_corpus

    reference = reference_from_corpus(args.corpus, side=args.side)
    path = reference.save(args.output)
    languages = ", ".join(f"{lang} {p:.1%}" for lang, p in sorted(reference.languages.items(), key=lambda x: -x[1]))
    print(f"{path}: {reference.count} texts; languages {languages}")
    return 0

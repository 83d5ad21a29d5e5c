"""``saliency-cli methods`` and ``saliency-cli models``: what can be explained with what."""

from __future__ import annotations

import json

import typer
from saliency_cli.cli.console import console, fail, methods_table, model_table


def methods() -> None:
    """List every saliency method with its aliases and parameters (with defaults)."""
    from saliency_cli.methods import METHODS

    console().print(methods_table(METHODS.values()))


def models(
    as_json: bool = typer.Option(False, "--json", help="Print the description as JSON on stdout."),
) -> None:
    """Show the embedded default model: labels, where it loads from, and its held-out metrics."""
    from saliency_cli.model.default import DefaultModelError, default_model_info

    try:
        info = default_model_info()
    except DefaultModelError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(info, indent=2, ensure_ascii=False))
        return
    out = console()
    out.print(model_table(info))
    out.print("Any other classifier: --model FOLDER_OR_HUB_ID")

"""The ``saliency-cli`` command line: thin Typer commands over plain, importable functions.

Data goes to stdout or the output file; every message goes to stderr.
"""

import os

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from saliency_cli.cli.app import app, main  # noqa: E402

__all__ = ["app", "main"]

"""Reviews in: arguments, stdin, text, CSV/TSV or JSONL files, read as a stream of ``Review`` or
``RowError`` (a row that cannot be read, named by its row), with ``InputError`` for an input that
cannot be read at all. See ``source.open_reviews``."""

from saliency_cli.inputs.source import estimate_rows, open_reviews, stdin_is_piped, texts_to_reviews
from saliency_cli.inputs.spec import FORMATS, InputError, InputSpec, detect_format

__all__ = ["FORMATS", "InputError", "InputSpec", "detect_format", "estimate_rows", "open_reviews", "stdin_is_piped",
           "texts_to_reviews"]

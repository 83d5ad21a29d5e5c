"""Options that ``explain`` and ``evaluate`` share, declared once so their flags, defaults and help agree."""

from __future__ import annotations

import typer

FORMAT = typer.Option("auto", "--format", help="auto|text|csv|tsv|jsonl (auto: extension, then content).")
TEXT_FIELD = typer.Option("text", "--text-field", help="CSV column / JSONL key holding the review.")
ID_FIELD = typer.Option(None, "--id-field", help="Column/key with row ids (default: row number).")
ENCODING = typer.Option("utf-8", "--encoding", help="Input encoding, e.g. utf-8, latin-1, cp1252, utf-16.")
DELIMITER = typer.Option(None, "--delimiter", help="CSV delimiter (default: sniffed from the header).")
MODEL = typer.Option(None, "--model", "-m", help="Hub id or local folder (default: embedded model).")
TRUST_REMOTE_CODE = typer.Option(False, "--trust-remote-code", help="Allow the model's own Python code.")
TARGET = typer.Option(None, "--target", "-t", help="predicted|all|LABEL|INDEX; repeatable [default: predicted].")
ATTRIBUTE = typer.Option("probability", "--attribute", help="probability|logit: the output explained.")
DEVICE = typer.Option("auto", "--device", help="auto|cpu|cuda|cuda:N|mps.")
DTYPE = typer.Option(
    "float32", "--dtype", help="float32|bfloat16|float16|auto: precision of the model's matmuls (sums stay float32)."
)
MAX_LENGTH = typer.Option(None, "--max-length", help="Truncate reviews to N tokens (<= model limit).")
MAX_MEMORY = typer.Option(None, "--max-memory", help="Activation memory per chunk, e.g. 512MB, 4GB.")
FAITHFULNESS_BASELINE = typer.Option(
    None, "--faithfulness-baseline", help="mask|pad|unk|delete: what faithfulness's removed words become [default: mask]."
)
ERRORS = typer.Option(None, "--errors", help="Also write row errors as JSONL to this file.")
FAIL_FAST = typer.Option(False, "--fail-fast", help="Stop at the first row that fails.")

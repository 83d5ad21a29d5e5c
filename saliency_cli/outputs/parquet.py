"""Results as Parquet: one row per record (review x method x target), the JSONL record's fields as
columns, ``tokens`` and ``words`` as lists of structs (README "Output schema", docs/scaling.md).

Columns: ``schema`` int32, ``id`` string, ``source`` string (null for arguments and stdin), ``row``
int64, ``text``, ``model``, ``method`` strings, ``params`` (JSON text: its keys differ by method),
``attribute``, ``dtype`` strings, ``prediction`` struct<label string, index int32, probs map<string, double>>,
``target`` struct<label string, index int32>, ``normalization`` string, ``truncated`` bool,
``dropped_tokens`` int32, ``delta`` double, ``windows`` int32, ``tokens`` list<struct<token string,
start int32, end int32, score double, special bool>>, ``words`` list<struct<word string, start int32,
end int32, score double>>, ``faithfulness`` (JSON text, null without ``--faithfulness``). A field a
record has beyond these (``label`` with ``--label-field``, ``plausibility``) is kept as a JSON text
column, and named in the file's metadata.

pyarrow is an optional extra (``saliency-cli[parquet]``); without it a Parquet output fails before
any work with the one line saying how to install it. No tensors here.
"""

from __future__ import annotations

import io
import json
from typing import Any, Iterable, Iterator, Sequence

from saliency_cli.outputs.paths import OutputError
from saliency_cli.records import Explanation

INSTALL_HINT = 'pip install "saliency-cli[parquet]"'
META_KEY = b"saliency_cli"
JSON_COLUMNS = ("params", "faithfulness")
ROW_GROUP_BYTES = 32 << 20  # JSON text gathered per row group when a journal is converted


def import_pyarrow() -> Any:
    """``pyarrow``, or OutputError with the install command."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise OutputError(f"Parquet needs pyarrow: {INSTALL_HINT}") from None
    return pyarrow


def schema(extra: Sequence[str] = ()) -> Any:
    """The Arrow schema of the records, with ``extra`` JSON text columns at the end."""
    pa = import_pyarrow()
    span = [("start", pa.int32()), ("end", pa.int32()), ("score", pa.float64())]
    fields = [
        ("schema", pa.int32()), ("id", pa.string()), ("source", pa.string()), ("row", pa.int64()),
        ("text", pa.string()), ("model", pa.string()), ("method", pa.string()), ("params", pa.string()),
        ("attribute", pa.string()), ("dtype", pa.string()),
        ("prediction", pa.struct([("label", pa.string()), ("index", pa.int32()),
                                  ("probs", pa.map_(pa.string(), pa.float64()))])),
        ("target", pa.struct([("label", pa.string()), ("index", pa.int32())])),
        ("normalization", pa.string()), ("truncated", pa.bool_()), ("dropped_tokens", pa.int32()),
        ("delta", pa.float64()), ("windows", pa.int32()),
        ("tokens", pa.list_(pa.struct([("token", pa.string()), *span, ("special", pa.bool_())]))),
        ("words", pa.list_(pa.struct([("word", pa.string()), *span]))),
        ("faithfulness", pa.string()),
    ]
    fields += [(name, pa.string()) for name in extra]
    meta = {META_KEY: json.dumps({"json_columns": [*JSON_COLUMNS, *extra]}).encode()}
    return pa.schema(fields, metadata=meta)


KNOWN = ("schema", "id", "source", "row", "text", "model", "method", "params", "attribute", "dtype", "prediction",
         "target",
         "normalization", "truncated", "dropped_tokens", "delta", "windows", "tokens", "words", "faithfulness")


def _row(record: dict[str, Any], extra: Sequence[str]) -> dict[str, Any]:
    """A JSONL record as a Parquet row: JSON text where the column is JSON text."""
    row = dict(record)
    for name in (*JSON_COLUMNS, *extra):
        value = row.get(name)
        row[name] = None if value is None else json.dumps(value, ensure_ascii=False)
    return row


def table(records: Sequence[dict[str, Any]]) -> Any:
    """An Arrow table of JSONL records (``Explanation.to_dict``)."""
    pa = import_pyarrow()
    extra = sorted({key for r in records for key in r if key not in KNOWN})
    return pa.Table.from_pylist([_row(r, extra) for r in records], schema=schema(extra))


def parquet_bytes(explanations: Sequence[Explanation]) -> bytes:
    """A whole Parquet file of these explanations (a Ray part)."""
    pq = import_pyarrow().parquet
    buffer = io.BytesIO()
    pq.write_table(table([e.to_dict() for e in explanations]), buffer)
    return buffer.getvalue()


def write_from_jsonl(lines: Iterable[bytes], target: Any) -> int:
    """Write JSONL records (a writer's journal) to ``target`` (a path or binary file) as Parquet, one
    row group per ~32 MB of JSON; returns the records written."""
    pq = import_pyarrow().parquet
    writer, chunk, size, count = None, [], 0, 0

    def flush() -> None:
        nonlocal writer, chunk, size
        part = table(chunk)
        if writer is None:
            writer = pq.ParquetWriter(target, part.schema)
        writer.write_table(part.cast(writer.schema) if part.schema != writer.schema else part)
        chunk, size = [], 0

    for line in lines:
        if line.strip():
            chunk.append(json.loads(line))
            size += len(line)
            count += 1
            if size >= ROW_GROUP_BYTES:
                flush()
    if chunk or writer is None:
        flush()
    writer.close()
    return count


def read_records(source: Any) -> Iterator[dict[str, Any]]:
    """The JSONL records of a Parquet results file (a path or binary file), a row group at a time."""
    pq = import_pyarrow().parquet
    try:
        parquet = pq.ParquetFile(source)
    except Exception as exc:
        raise ValueError(f"not a Parquet file of results: {str(exc).splitlines()[0]}") from None
    meta = json.loads((parquet.schema_arrow.metadata or {}).get(META_KEY, b"{}"))
    json_columns = meta.get("json_columns", JSON_COLUMNS)
    for group in range(parquet.num_row_groups):
        for row in parquet.read_row_group(group).to_pylist():
            for name in json_columns:
                if row.get(name) is not None:
                    row[name] = json.loads(row[name])
            prediction = row.get("prediction")
            if isinstance(prediction, dict) and isinstance(prediction.get("probs"), list):
                prediction["probs"] = dict(prediction["probs"])
            yield row

"""Parquet input: one review per row, the text from ``--text-field``'s column (and the id from
``--id-field``'s, else an ``id`` column), read a row group at a time; rows are numbered within the file from 1.

pyarrow is an optional extra (``saliency-cli[parquet]``, also brought by ``[ray]``): without it a
Parquet input fails before any work with the one line saying how to install it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterator

from saliency_cli.inputs.rows import IdTracker, make_review, with_extras
from saliency_cli.inputs.spec import DEFAULT_ID, InputError, InputSpec
from saliency_cli.records import Review, RowError

INSTALL_HINT = 'pip install "saliency-cli[parquet]"'


def import_parquet() -> Any:
    """``pyarrow.parquet``, or InputError with the install command."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"Parquet needs pyarrow: {INSTALL_HINT}") from None
    return pq


def open_parquet(path: str) -> Any:
    """A ``pyarrow.parquet.ParquetFile`` on a local path or a URI; InputError if it is not Parquet."""
    pq = import_parquet()
    from saliency_cli.inputs.files import open_binary

    try:
        return pq.ParquetFile(open_binary(path))
    except InputError:
        raise
    except Exception as exc:  # ArrowInvalid: not a Parquet file, a torn footer
        raise InputError(f"cannot read {path} as Parquet: {str(exc).splitlines()[0]}") from None


def check_columns(parquet: Any, spec: InputSpec) -> None:
    """InputError naming the available columns if the text, id, label or rationale column is missing."""
    columns = parquet.schema_arrow.names
    missing = [f for f in (spec.text_field, spec.id_field, spec.label_field, spec.rationale_field)
               if f is not None and f not in columns]
    if missing:
        raise InputError(f"column {missing[0]!r} not found; available columns: {', '.join(columns) or '(none)'}")


def parquet_rows(parquet: Any) -> int:
    """Rows in the file, from its footer."""
    return parquet.metadata.num_rows


def group_starts(parquet: Any) -> list[int]:
    """The first row (1-based) of every row group."""
    starts, row = [], 1
    for i in range(parquet.num_row_groups):
        starts.append(row)
        row += parquet.metadata.row_group(i).num_rows
    return starts


def column_values(parquet: Any, names: list[str], first_row: int = 1, last_row: int | None = None,
                  where: str | None = None) -> Iterator[tuple[int, list[Any]]]:
    """(row, the values of ``names``) over rows ``first_row..last_row``, reading only the row groups they
    touch (``where``: the file's path, to keep its last row group for the next piece)."""
    last_row = parquet_rows(parquet) if last_row is None else min(last_row, parquet_rows(parquet))
    for group, start in enumerate(group_starts(parquet)):
        end = start + parquet.metadata.row_group(group).num_rows - 1
        if end < first_row or start > last_row:
            continue
        table = _row_group(parquet, group, tuple(names), where)
        low, high = max(first_row, start), min(last_row, end)
        columns = [table.column(name).slice(low - start, high - low + 1).to_pylist() for name in names]
        for offset, values in enumerate(zip(*columns)):
            yield low + offset, list(values)


_LAST_GROUP: dict[tuple, Any] = {}  # the last row group read, for the next piece of the same group


def _row_group(parquet: Any, group: int, names: tuple[str, ...], where: str | None) -> Any:
    """A row group's columns; with ``where``, the last one read is kept (per process), so the pieces of
    a large row group read one after another in a Ray worker decode it once, not once per piece."""
    if where is None:
        return parquet.read_row_group(group, columns=list(names))
    meta = parquet.metadata
    key = (where, meta.num_rows, meta.serialized_size, group, names,
           tuple(meta.row_group(group).column(i).total_compressed_size for i in range(meta.num_columns)))
    if key not in _LAST_GROUP:
        _LAST_GROUP.clear()
        _LAST_GROUP[key] = parquet.read_row_group(group, columns=list(names))
    return _LAST_GROUP[key]


def parquet_ids(parquet: Any, spec: InputSpec) -> InputSpec:
    """``spec`` with the file's id column decided: ``--id-field``, else the column ``id`` when the file
    has one (unless ``--row-ids``), else row numbers; every piece of the file decides alike."""
    if spec.id_field is None and not spec.row_ids and DEFAULT_ID in parquet.schema_arrow.names:
        return replace(spec, id_field=DEFAULT_ID)
    return spec


def read_parquet(parquet: Any, spec: InputSpec, ids: IdTracker, first_row: int = 1,
                 last_row: int | None = None, where: str | None = None) -> Iterator[Review | RowError]:
    """Reviews of rows ``first_row..last_row`` (all by default): a null or non-string text, or a null
    id, is a row error, as in JSONL; a label or rationale column is carried as in CSV."""
    spec = parquet_ids(parquet, spec)
    names = list(dict.fromkeys(f for f in (spec.text_field, spec.id_field, spec.label_field, spec.rationale_field)
                               if f is not None))
    for row, values in column_values(parquet, names, first_row, last_row, where):
        value = dict(zip(names, values))
        text, rid = value[spec.text_field], str(row)
        if spec.id_field is not None:
            key = value[spec.id_field]
            if key is None:
                yield RowError(row, None, f"the id field {spec.id_field!r} is missing or null")
                continue
            rid = str(key)
        yield with_extras(make_review(text, rid, row, ids, spec.text_field), spec, value.get)


def open_parquet_bytes(data: bytes) -> Any:
    """A ``ParquetFile`` over bytes already read (Parquet piped to stdin: its footer is at the end)."""
    pq = import_parquet()
    import pyarrow as pa

    try:
        return pq.ParquetFile(pa.BufferReader(data))
    except Exception as exc:
        raise InputError(f"cannot read stdin as Parquet: {str(exc).splitlines()[0]}") from None

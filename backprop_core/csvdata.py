"""Parse uploaded CSV text into a feature matrix and a label vector.

Used by :func:`backprop_core.datasets.load_csv`, which adds the seeded train/test split. Nothing here
reads a path: the server hands over the uploaded text (``str``) or raw bytes (UTF-8, BOM tolerated).

Rules: the first non-blank row is the header; one column (named by the caller) holds the label and every
other column is a numeric feature (parsed with ``float()``, finite values only). Lines are numbered from
1, the header being line 1 when the file does not start with blank lines; entirely blank lines are skipped.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Task = Literal["classification", "regression"]

MIN_ROWS = 4
MAX_INFERRED_CLASSES = 20  # integer labels with at most this many values are inferred as classes
MAX_CLASSES = 100


class CSVError(ValueError):
    """An uploaded CSV that cannot be used.

    ``line`` is the 1-based line number the problem is on (None when it concerns the whole file) and
    ``column`` the column name (None when it concerns a whole row or file). The message starts with
    "line N, column 'name': " when those are known.
    """

    def __init__(self, message: str, *, line: int | None = None, column: str | None = None) -> None:
        self.line = line
        self.column = column
        self.reason = message
        where = ([f"line {line}"] if line is not None else []) + (
            [f"column {column!r}"] if column is not None else []
        )
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


@dataclass(frozen=True, eq=False)
class ParsedCSV:
    """Parsed table: ``X`` (n, d) float64, ``y`` (n,) int64 class index or float64 target."""

    X: npt.NDArray[np.float64]
    y: npt.NDArray[Any]
    task: Task
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _decode(source: str | bytes, max_bytes: int) -> str:
    """Check the size limit, then decode bytes as UTF-8; drop a leading byte-order mark."""
    if isinstance(source, bytes | bytearray):
        size = len(source)
    elif isinstance(source, str):
        size = len(source) if len(source) > max_bytes else len(source.encode("utf-8", "surrogatepass"))
    else:
        raise TypeError(f"source must be str or bytes, got {type(source).__name__}")
    if size > max_bytes:
        raise CSVError(f"the file is too large: {size} bytes, the limit is {max_bytes} bytes")
    if isinstance(source, str):
        text = source
    else:
        try:
            text = bytes(source).decode("utf-8")
        except UnicodeDecodeError as exc:
            line = source[: exc.start].count(b"\n") + 1
            raise CSVError(f"the file is not valid UTF-8 text (byte {exc.start})", line=line) from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise CSVError("the file is empty")
    return text


def _read_rows(text: str, max_rows: int) -> list[tuple[int, list[str]]]:
    """All non-blank rows (header first) as (line number, fields); at most ``max_rows`` after the header."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # an unclosed quote is reported where its record starts
            raise CSVError(f"malformed CSV: {exc}", line=start) from None
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(rows) > max_rows:  # rows[0] is the header
            raise CSVError(f"too many rows: the limit is {max_rows} data rows", line=reader.line_num)
        rows.append((reader.line_num, row))
    return rows


def _header(fields: list[str], line: int, max_columns: int) -> list[str]:
    if len(fields) > max_columns:
        raise CSVError(f"too many columns: {len(fields)}, the limit is {max_columns}", line=line)
    names = [f.strip() or f"column_{i + 1}" for i, f in enumerate(fields)]
    _check_not_numeric(names, line)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise CSVError("duplicate column name in the header", line=line, column=name)
        seen.add(name)
    return names


def _check_not_numeric(names: list[str], line: int) -> None:
    """Refuse a header row holding numbers: a file without a header (its first data row would become the
    column names) or with a line of counts first (scikit-learn's raw files: ``150,4,setosa,…``). Numbered
    columns as pandas writes them (0, 1, 2, … in order) are names, and pass."""
    numbers = [(i, n) for i, n in enumerate(names) if (v := _number(n)) is not None and math.isfinite(v)]
    if not numbers:
        return
    values = [float(n) for _, n in numbers]
    indexes = [i for i, _ in numbers]
    start = values[0]
    counting = start in (0.0, 1.0) and values == [start + k for k in range(len(values))]
    if counting and indexes == list(range(indexes[0], indexes[0] + len(indexes))):
        return
    shown = ", ".join(n for _, n in numbers[:4]) + (", …" if len(numbers) > 4 else "")
    raise CSVError(f"the header row holds numbers ({shown}) where column names belong: the first line must name "
                   "the columns (is it a data row, or a line of counts like scikit-learn's raw files?)", line=line)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _labels(
    raw: list[str], lines: list[int], task: Task | None, column: str
) -> tuple[npt.NDArray[Any], Task, tuple[str, ...]]:
    """Turn label strings into (y, task, class_names); see :func:`parse_csv` for the inference rule."""
    values = [_number(s) for s in raw]
    numeric = all(v is not None for v in values)
    finite = numeric and all(math.isfinite(v) for v in values if v is not None)
    if task is None:
        if numeric and not finite:
            i = next(i for i, v in enumerate(values) if v is not None and not math.isfinite(v))
            raise CSVError(f"label {_short(raw[i])} is not a finite number", line=lines[i], column=column)
        integral = numeric and all(v is not None and v.is_integer() for v in values)
        few = len(set(values)) <= MAX_INFERRED_CLASSES
        task = "classification" if not numeric or (integral and few) else "regression"
    if task == "regression":
        for s, v, line in zip(raw, values, lines, strict=True):
            if v is None or not math.isfinite(v):
                raise CSVError(
                    f"label {_short(s)} is not a finite number (regression needs numeric labels)",
                    line=line,
                    column=column,
                )
        return np.array(values, dtype=np.float64), task, ()
    names: dict[Any, str] = {}  # class key -> first original spelling
    keys: list[Any] = values if finite else raw
    for key, s in zip(keys, raw, strict=True):
        names.setdefault(key, s)
    if len(names) > MAX_CLASSES:
        raise CSVError(
            f"too many classes: {len(names)} distinct labels, the limit is {MAX_CLASSES}", column=column
        )
    if len(names) < 2:
        raise CSVError(
            "the label column has only one distinct value; classification needs two or more", column=column
        )
    order = sorted(names)
    index = {key: i for i, key in enumerate(order)}
    y = np.array([index[k] for k in keys], dtype=np.int64)
    return y, "classification", tuple(names[k] for k in order)


def parse_csv(
    source: str | bytes,
    label_column: str,
    *,
    task: Task | None = None,
    max_bytes: int = 10_000_000,
    max_rows: int = 100_000,
    max_columns: int = 1_000,
) -> ParsedCSV:
    """Parse CSV text into ``X`` (n, d) float64 and ``y`` (n,), checking every limit and value.

    ``task=None`` infers it: labels that are all integers with at most 20 distinct values, or that are
    not all numbers, make a classification (classes in sorted order: numeric order for numbers, else
    string order; ``class_names`` are the labels as first written); any other numeric labels make a
    regression. Raises :class:`CSVError` (with line and column where they apply) for every bad input.
    """
    if task not in (None, "classification", "regression"):
        raise ValueError(f"task must be 'classification', 'regression' or None, got {task!r}")
    max_bytes = _positive_int(max_bytes, "max_bytes")
    max_rows = _positive_int(max_rows, "max_rows")
    max_columns = _positive_int(max_columns, "max_columns")
    rows = _read_rows(_decode(source, max_bytes), max_rows)
    header_line, header_fields = rows[0]
    names = _header(header_fields, header_line, max_columns)
    wanted = label_column.strip()
    if wanted not in names:
        raise CSVError(
            f"label column not found; available columns: {', '.join(names)}",
            line=header_line,
            column=label_column,
        )
    if len(names) < 2:
        raise CSVError("the file needs at least one feature column besides the label", line=header_line)
    data = rows[1:]
    if len(data) < MIN_ROWS:
        raise CSVError(f"too few data rows: {len(data)}, at least {MIN_ROWS} are needed")
    label_idx = names.index(wanted)
    feature_idx = [j for j in range(len(names)) if j != label_idx]
    X = np.empty((len(data), len(feature_idx)), dtype=np.float64)
    raw_labels: list[str] = []
    for i, (line, fields) in enumerate(data):
        if len(fields) != len(names):
            raise CSVError(f"expected {len(names)} fields as in the header, found {len(fields)}", line=line)
        for k, j in enumerate(feature_idx):
            text = fields[j].strip()
            value = _number(text) if text else None
            if not text:
                raise CSVError("missing value", line=line, column=names[j])
            if value is None:
                raise CSVError(f"{_short(text)} is not a number", line=line, column=names[j])
            if not math.isfinite(value):
                raise CSVError(f"{_short(text)} is not a finite number", line=line, column=names[j])
            X[i, k] = value
        label = fields[label_idx].strip()
        if not label:
            raise CSVError("missing label", line=line, column=wanted)
        raw_labels.append(label)
    y, kind, class_names = _labels(raw_labels, [line for line, _ in data], task, wanted)
    return ParsedCSV(X, y, kind, tuple(names[j] for j in feature_idx), class_names)

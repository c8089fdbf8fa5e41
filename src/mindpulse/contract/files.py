"""File decoding: a CSV read as text cells by line number, with one clear line for anything that
is not a UTF-8 CSV."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pandas as pd

from mindpulse.contract.frames import validate_frame
from mindpulse.contract.problems import ContractError, Problem, ValidationResult, echo
from mindpulse.io import InputFileError, input_name, read_input

def read_table(path: str | Path) -> tuple[pd.DataFrame, str]:
    """The cells of a CSV as text, indexed by line number (the header is line 1), and the
    source's name. ``-`` reads standard input; pipes such as ``/dev/stdin`` work too.

    Raises ``FileNotFoundError`` for a missing file and :class:`ContractError` with one line
    for anything that is not a UTF-8 CSV (a directory, an empty input, another encoding,
    compressed or binary content, NUL bytes, an unclosed quote) or whose header names a
    column twice.
    """
    source = input_name(path)
    try:
        data = read_input(path)
    except InputFileError as exc:
        raise ContractError.about_file(source, exc.what, "a CSV file (or - for standard input)") from None
    text = _decode(data, source)
    try:
        header = pd.read_csv(io.StringIO(text), header=None, nrows=1, dtype=str, keep_default_na=False, na_filter=False)
        names = [str(name).strip() for name in header.iloc[0]]
        twice = sorted(name for name, count in Counter(names).items() if count > 1 and name)
        if twice:
            raise ContractError([Problem("header", name, "(twice)", "each column once") for name in twice], source)
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError:
        raise ContractError.about_file(source, "empty (no header row)", "a CSV with a header row") from None
    except (pd.errors.ParserError, ValueError) as exc:
        if isinstance(exc, ContractError):
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ContractError.about_file(source, f"not a readable CSV ({echo(reason, 120)[1:-1]})",
                                       "comma-separated text with one header row") from None
    raw.index = pd.RangeIndex(2, len(raw) + 2)  # line numbers: the header is line 1
    return raw, source


def _decode(data: bytes, source: str) -> str:
    """UTF-8 text (a BOM is dropped); anything else is refused with what it looks like."""
    expected = "a CSV in UTF-8 text"
    if not data.strip():
        raise ContractError.about_file(source, "empty (no header row)", "a CSV with a header row")
    if data[:2] == b"\x1f\x8b":
        raise ContractError.about_file(source, "gzip-compressed data (decompress it first)", expected)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ContractError.about_file(source, "UTF-16 text (save it as UTF-8)", expected)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ContractError.about_file(
            source, f"not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}; save the file as UTF-8)", expected
        ) from None
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise ContractError.about_file(source, f"a NUL byte on line {line} (binary or UTF-16 content)", expected)
    return text


def read_csv(path: str | Path, *, require_target: bool = True) -> ValidationResult:
    """Read and validate a CSV in the real file's format; ``row`` in problems is the line number."""
    raw, source = read_table(path)
    return validate_frame(raw, require_target=require_target, source=source)

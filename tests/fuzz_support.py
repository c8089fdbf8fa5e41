"""Generators of malformed input for the fuzz suite, and an oracle written from the contract's
documentation (not from its code): what each cell must become, or that it must be refused.

The documented rules the oracle encodes:

- a cell is stripped of spaces, then of the real file's quotes (``'`` and ``"``), then of spaces;
- a number is ASCII decimal (``20``, ``20.0``, ``2e1``), within the field's range, whole where the
  field says so; ``""``, ``?``, ``nan``, ``NA``... are missing, allowed only where nullable;
- a category matches one choice, case-insensitively; a city outside the list is 'Other', a missing
  city (``""``, ``?``, ``null``...) is refused;
- Profession is text of at most 64 characters; empty means 'Student';
- no text holds a control character (C0 with NUL, DEL, C1 such as U+009B) or a lone surrogate;
- an id is a whole number from 0 to 2**63 - 1, unique in the input; Depression is 0 or 1;
- JSON values: text and numbers are read as the cell they would be; null is missing;
  true/false, arrays and objects are refused.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import re
from collections import Counter
from decimal import Decimal, InvalidOperation
from typing import Any

from hypothesis import strategies as st

from mindpulse import contract as c

#: Cases generated per input path in this session (printed at the end of the run).
CASES: Counter[str] = Counter()

MISSING = {"", "?", "nan", "NaN", "NA", "N/A", "None", "null"}
BAD_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)  # ASCII digits only
BAD = object()  # the oracle's verdict for a refused cell

SPECIAL_TEXT = ["", " ", "?", "nan", "NA", "None", "null", "'", '"', "''", "\x00", "Ma\x00le", "\x1b[31m",
                "\x9b31m", "Stu\x85dent", "\x80",  # C1 controls (U+009B is a terminal's CSI)
                "\ud800", "１９", "1_0", "0x10", "inf", "-inf", "1e400", "-0", "+5", ".5", "5.", "1e20",
                "99999999999999999999", str(2**63), str(2**63 - 1), "9" * 401, "Ａ", "ß", "€", "\u2028",
                "x" * 65, "y" * 64, "a,b", "line\nbreak", " 'quoted' ", "\ufeffMale", "Male\r"]


def clean(text: str) -> str:
    return text.strip().strip("'\"").strip()


def expect_cell(spec: c.FieldSpec, text: str) -> Any:
    """The canonical value the contract documents for one cell's text, or BAD."""
    text = clean(text)
    if spec.kind in ("category", "text") and BAD_CHARACTERS.search(text):
        return BAD
    if spec.kind == "text":
        return BAD if len(text) > 64 else (text or spec.default)
    if spec.kind == "category":
        for choice in spec.choices:
            if choice.lower() == text.lower():
                return choice
        return c.OTHER_CITY if spec.name == "city" and text not in MISSING else BAD
    if text in MISSING:
        if spec.kind == "number" and not spec.nullable:
            return BAD
        return None  # id/target nullability is the caller's business
    if not NUMBER.fullmatch(text):
        return BAD
    if spec.kind == "number":
        number = float(text)
        if not spec.minimum <= number <= spec.maximum or (spec.integer and number != int(number)):
            return BAD
        return number
    try:
        exact = Decimal(text)
    except InvalidOperation:
        return BAD
    if exact != exact.to_integral_value():
        return BAD
    high = 1 if spec.kind == "target" else 2**63 - 1
    return int(exact) if 0 <= exact <= high else BAD


def json_cell(value: Any) -> str | object:
    """The text a JSON value stands for, or BAD (true/false, arrays, objects)."""
    if value is None:
        return ""
    if isinstance(value, bool) or isinstance(value, (list, dict)):
        return BAD
    if isinstance(value, int):
        return str(value) if value.bit_length() < 10_000 else BAD
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return value


def expect_record(cells: dict[str, Any], *, require_target: bool, from_json: bool = False) -> tuple[dict[str, Any] | None, set[str]]:
    """(the canonical record, set()) when valid; (None, bad raw field names) otherwise."""
    bad: set[str] = set()
    out: dict[str, Any] = {}
    for spec in c.FIELDS:
        if spec.raw not in cells:
            if spec.kind == "target" and require_target or spec.required and spec.kind not in ("id", "target"):
                bad.add(spec.raw)
            out[spec.name] = None if spec.kind in ("id", "target") else spec.default
            continue
        raw = cells[spec.raw]
        text = json_cell(raw) if from_json else raw
        value = BAD if text is BAD else expect_cell(spec, text)
        if value is None and spec.kind == "target" and require_target:
            value = BAD
        if value is BAD:
            bad.add(spec.raw)
        out[spec.name] = value
    return (None, bad) if bad else (out, bad)


def same_record(got: dict[str, Any], want: dict[str, Any]) -> bool:
    for name, expected in want.items():
        value = got.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            value = None
        if isinstance(expected, float) and value is not None:
            if not math.isclose(float(value), expected, rel_tol=1e-12, abs_tol=1e-12):
                return False
        elif value != expected and not (expected is not None and value is not None and float(value) == float(expected)
                                        if isinstance(expected, int) else False):
            return False
    return True


# -- strategies ---------------------------------------------------------------------------------

def _valid_text(spec: c.FieldSpec) -> st.SearchStrategy[str]:
    if spec.kind == "category":
        return st.sampled_from(spec.choices).flatmap(
            lambda v: st.sampled_from([v, v.lower(), v.upper(), f"'{v}'", f" {v} ", f'"{v}"']))
    if spec.kind == "text":
        return st.sampled_from(["Student", "Digital Marketer", "", "Ingénieur", "z" * 64])
    if spec.kind == "target":
        return st.sampled_from(["0", "1", "1.0", "0.0"])
    if spec.kind == "id":
        return st.integers(0, 2**63 - 1).map(str)
    low, high = int(spec.minimum), int(spec.maximum)
    whole = st.integers(low, high)
    forms = [whole.map(str), whole.map(lambda v: f"{v}.0")]
    if not spec.integer:
        forms.append(st.integers(low * 100, high * 100).map(lambda v: f"{v / 100:.2f}"))
    if spec.nullable:
        forms.append(st.sampled_from(["?", ""]))
    return st.one_of(*forms)


def _bad_text(spec: c.FieldSpec) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(SPECIAL_TEXT),
        st.text(max_size=12),
        st.integers(-(10**30), 10**30).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.text(st.characters(exclude_characters="\x00", codec="utf-8"), min_size=60, max_size=120),
    )


def cell_text(spec: c.FieldSpec, bad: bool) -> st.SearchStrategy[str]:
    """A cell for one field: a valid form, or (``bad``) something that usually is not."""
    return _bad_text(spec) if bad else _valid_text(spec)


def json_value(spec: c.FieldSpec, bad: bool) -> st.SearchStrategy[Any]:
    """A JSON value for one field: valid text or numbers, or (``bad``) huge numbers, null,
    booleans, arrays, objects and bad text."""
    if not bad:
        valid_number = (st.integers(int(spec.minimum), int(spec.maximum)) if spec.kind == "number"
                        else st.integers(0, 1) if spec.kind == "target" else st.integers(0, 2**63 - 1)
                        if spec.kind == "id" else st.nothing())
        return st.one_of(_valid_text(spec), valid_number)
    number = st.one_of(st.integers(), st.integers(-(10**500), 10**500), st.floats())
    return st.one_of(_bad_text(spec), number, st.none(), st.booleans(),
                     st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@st.composite
def records(draw: Any, *, json_values: bool, require_target: bool) -> dict[str, Any]:
    """A record with the real header's keys: a few fields bad, now and then one left out."""
    bad_fields = draw(st.sets(st.sampled_from(c.RAW_COLUMNS), max_size=3))
    record: dict[str, Any] = {}
    for spec in c.FIELDS:
        optional = not spec.required or spec.kind == "target" and not require_target
        if draw(st.integers(0, 40 if not optional else 3)) == 0:
            continue
        bad = spec.raw in bad_fields
        record[spec.raw] = draw(json_value(spec, bad) if json_values else cell_text(spec, bad))
    if draw(st.integers(0, 5)) == 0:
        record[draw(st.sampled_from(["Notes", "extra", ""]))] = draw(st.text(max_size=5))
    return record


FILE_MUTATIONS = ("bom", "crlf", "latin-1", "utf-16", "gzip", "nul", "empty", "header-only",
                  "duplicate column", "missing column", "extra column", "unclosed quote", "long row", "short row",
                  "blank lines", "stdin")


@st.composite
def csv_files(draw: Any, *, require_target: bool) -> dict[str, Any]:
    """A CSV (bytes) with its rows as cells, a file-level mutation, and how it must be read."""
    n = draw(st.integers(1, 6))
    first_id = draw(st.integers(10**6, 10**15))
    rows = []
    for i in range(n):
        record = draw(records(json_values=False, require_target=require_target) if draw(st.integers(0, 2))
                      else st.fixed_dictionaries({spec.raw: _valid_text(spec) for spec in c.FIELDS
                                                  if spec.kind != "target" or require_target}))
        if "id" in record and draw(st.booleans()):
            record["id"] = str(first_id + i)  # mostly fresh ids, so uniqueness rarely decides
        rows.append(record)
    columns = [col for col in c.RAW_COLUMNS if any(col in r for r in rows)]
    mutation = "none" if draw(st.booleans()) else draw(st.sampled_from(FILE_MUTATIONS))
    header = list(columns)
    if mutation == "duplicate column":
        header.append(draw(st.sampled_from(columns)))
    elif mutation == "missing column":
        header.remove(draw(st.sampled_from(columns)))
    elif mutation == "extra column":
        header.append("Notes")
    lines: list[list[str]] = [header]
    for r in rows:
        line = [r.get(col, "") for col in header[: len(columns)]]
        if mutation in ("duplicate column", "extra column"):
            line.append("x")
        lines.append(line)
    buffer = io.StringIO()
    # CRLF rows, so cells holding a lone \r or \n are quoted; plain \n unless the mutation is crlf
    csv.writer(buffer, lineterminator="\r\n").writerows(lines if mutation != "header-only" else lines[:1])
    text = buffer.getvalue()
    if mutation != "crlf":
        text = text.replace("\r\n", "\n")
    if mutation == "unclosed quote":  # a quote that nothing closes (the row's own quotes taken out)
        text += '"' + ",".join(lines[1]).replace('"', "") + "\n"
    elif mutation == "long row":
        text += ",".join(["1"] * (len(header) + 2)) + "\n"
    elif mutation == "short row":
        text += "1\n"
    elif mutation == "blank lines":
        text = "\n" + text.replace("\n", "\n\n")
    elif mutation == "nul":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + "\x00" + text[at:]
    elif mutation == "empty":
        text = ""
    data = _encode(text, mutation)
    return {"data": data, "rows": rows, "header": header, "columns": columns, "mutation": mutation}


def _encode(text: str, mutation: str) -> bytes:
    try:
        if mutation == "latin-1":
            return text.encode("latin-1")
        if mutation == "utf-16":
            return text.encode("utf-16")
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="surrogatepass")
    if mutation == "gzip":
        return gzip.compress(data)
    if mutation == "bom":
        return b"\xef\xbb\xbf" + data
    return data


def expect_file(case: dict[str, Any], *, require_target: bool) -> tuple[str, Any]:
    """('refused', words the error must hold) or ('rows', [(canonical or None, bad fields), ...])."""
    data: bytes = case["data"]
    mutation = case["mutation"]
    if not data.strip():
        return "refused", ("empty",)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "refused", ("UTF-8", "gzip", "UTF-16")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff", b"\x1f\x8b"):
        return "refused", ("gzip", "UTF-16")
    if "\x00" in text:
        return "refused", ("NUL",)
    header = [h.strip() for h in case["header"]]
    twice = [h for h, n in Counter(header).items() if n > 1 and h]
    if twice:
        return "refused", tuple(twice)
    if mutation in ("unclosed quote", "long row"):
        return "refused", ("CSV",)
    missing = [spec.raw for spec in c.FIELDS if spec.raw not in header
               and (spec.required and spec.kind not in ("id", "target") or spec.kind == "target" and require_target)]
    if missing:
        return "refused", tuple(missing)
    all_cells = [{col: record.get(col, "") for col in header if col in c.RAW_COLUMNS}
                 for record in (case["rows"] if mutation != "header-only" else [])]
    if mutation == "short row":
        all_cells.append({col: ("1" if i == 0 else "") for i, col in enumerate(header) if col in c.RAW_COLUMNS})
    verdicts = [expect_record(cells, require_target=require_target) for cells in all_cells]
    # ids are unique in the input: every row whose id reads as a number takes part
    parsed = [expect_cell(c.FIELD_BY_NAME["id"], cells["id"]) if "id" in cells else None for cells in all_cells]
    ids = Counter(v for v in parsed if v is not None and v is not BAD)
    for i, value in enumerate(parsed):
        if value is not None and value is not BAD and ids[value] > 1:
            verdicts[i] = (None, {*verdicts[i][1], "id"})
    return "rows", verdicts

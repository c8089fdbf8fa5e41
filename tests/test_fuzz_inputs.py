"""The fuzz suite: malformed values, rows, files and JSON for every input path, on both store backends.

Every generated case ends in one of two ways, checked against an oracle written from the
contract's documentation (tests/fuzz_support.py):

- refused: exit code != 0, one line naming the field or the file, values cut short, and nothing
  stored or changed;
- accepted: exactly the rows (and values) the contract documents, the bad ones reported.

``make test`` runs a bounded number of cases; ``pytest tests/test_fuzz_inputs.py
--hypothesis-profile=long`` runs thousands, and every run prints how many cases it generated.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from bad_input_support import RECORD, cli, refused
from fuzz_support import CASES, NUMBER, csv_files, expect_file, expect_record, records, same_record
from mindpulse import contract as c
from mindpulse.data import read_canonical
from mindpulse.settings import Settings
from mindpulse.store import Store
from mindpulse.synthetic import generate
from postgres_support import fresh_database
from shared_support import migrated

MINDPULSE = str(Path(sys.executable).parent / "mindpulse")


def examples(base: int) -> int:
    """``base`` cases in the default profile, scaled by the profile in force (``long``: 14 times)."""
    return max(3, base * settings.default.max_examples // 100)


def fuzz(base: int):  # noqa: ANN201 - a decorator
    return settings(max_examples=examples(base), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.large_base_example])


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request, tmp_path_factory):
    """(home, database URL or None): one store for every case of a test, on each backend."""
    home = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    if request.param == "sqlite":
        yield home, None
        return
    with fresh_database() as url:
        yield home, url


def open_store(home: Path, url: str | None) -> Store:
    return Store.from_settings(migrated(Settings(home=home, **({"database_url": url} if url else {}))))


def snapshot(home: Path, url: str | None) -> pd.DataFrame:
    with open_store(home, url) as store:
        return store.production_frame()


def write_case(folder: Path, data: bytes) -> Path:
    path = Path(tempfile.mkstemp(suffix=".csv", dir=folder)[1])
    path.write_bytes(data)
    return path


def input_args(case, path: Path) -> tuple[str, bytes | None]:
    """The CSV as a path, or as '-' with the bytes on standard input."""
    return ("-", case["data"]) if case["mutation"] == "stdin" else (str(path), None)


def bad_fields(verdicts) -> set[str]:
    return {field for _, bad in verdicts for field in bad}


def assert_refused_for(out, kind, want, source: str, verdicts=()) -> None:
    event("refused")
    names = [source, "stdin"] + list(want if kind == "refused" else []) + sorted(bad_fields(verdicts))
    refused(out, *[f"'{n}'" if n in c.RAW_COLUMNS else n for n in names])


def sha(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


# -- one record: the contract itself -----------------------------------------------------------

@fuzz(100)
@given(record=records(json_values=True, require_target=False), require_target=st.booleans())
def test_fuzz_contract_canonical_record(record, require_target):
    CASES["contract.canonical_record"] += 1
    want, bad = expect_record(record, require_target=require_target, from_json=True)
    try:
        got = c.canonical_record(record, require_target=require_target)
    except c.ContractError as exc:
        assert want is None, (record, str(exc)[:500])
        assert {p.field for p in exc.problems} & bad, (bad, str(exc)[:500])
        assert len(str(exc)) < 12 * 400
    else:
        assert want is not None, (record, bad, got)
        assert same_record(got, want), (got, want)
        assert got == c.validate_record(record, require_target=require_target)


# -- predict --record and feedback --row -------------------------------------------------------

@fuzz(40)
@given(record=records(json_values=True, require_target=False))
def test_fuzz_predict_record(trained_home, record):
    CASES["predict --record"] += 1
    want, bad = expect_record(record, require_target=False, from_json=True)
    out = cli("predict", "--record", json.dumps(record), home=trained_home)
    if want is None:
        refused(out, *[f"'{name}'" for name in bad])
    else:
        assert out.code == 0, (record, out.stderr)
        assert 0 <= json.loads(out.stdout)["probability"] <= 1


@fuzz(20)
@given(record=records(json_values=True, require_target=True))
def test_fuzz_feedback_row(backend, record):
    CASES["feedback --row"] += 1
    home, url = backend
    before = snapshot(home, url)
    want, bad = expect_record(record, require_target=True, from_json=True)
    if want is not None and want["id"] is not None and want["id"] in set(before["id"].dropna()):
        want, bad = None, {"id"}
    out = cli("feedback", "--row", json.dumps(record), home=home, database_url=url)
    after = snapshot(home, url)
    if want is None:
        refused(out, *[f"'{name}'" for name in bad])
        assert len(after) == len(before)
    else:
        assert out.code == 0, (record, out.stderr)
        assert len(after) == len(before) + 1
        assert same_record(after.iloc[-1][list(c.CANONICAL_COLUMNS)].to_dict(), want)


@pytest.mark.parametrize("field, value", [("City", ""), ("City", None), ("City", "?"), ("City", "Pu\u009bne"),
                                          ("Profession", "\u009b31m"), ("Degree", "B\u0085Sc")])
def test_a_missing_city_and_c1_controls_are_refused_on_every_input_path(trained_home, tmp_path, field, value):
    """The examples the generators may miss, through each door: predict --record, feedback --row and
    a CSV to ingest. Each is refused naming the field, and nothing is stored."""
    record = {**RECORD, "Profession": "Student", "Depression": 1, field: value}
    predicted = cli("predict", "--record", json.dumps(record), home=trained_home)
    refused(predicted, f"'{field}'")
    home = tmp_path / "home"
    row = cli("feedback", "--row", json.dumps(record), home=home)
    refused(row, f"'{field}'")
    assert snapshot(home, None).empty
    path = tmp_path / "cohort.csv"
    pd.DataFrame([{**record, field: "" if value is None else value}]).to_csv(path, index=False)
    ingest = cli("ingest", "--strict", str(path), home=home)
    refused(ingest, f"'{field}'")
    assert not Settings(home=home).reference_path.exists()


# -- CSV files: ingest, predict --input, feedback --csv ----------------------------------------

@fuzz(30)
@given(case=csv_files(require_target=True), strict=st.booleans())
def test_fuzz_ingest(tmp_path_factory, case, strict):
    CASES["ingest"] += 1
    home = tmp_path_factory.mktemp("ingest")
    reference = Settings(home=home).reference_path
    path = write_case(home, case["data"])
    name, stdin = input_args(case, path)
    out = cli("ingest", *(["--strict"] if strict else []), name, home=home, stdin=stdin)
    kind, want = expect_file(case, require_target=True)
    good = [record for record, _ in want] if kind == "rows" else []
    valid = [record for record in good if record is not None]
    if kind == "refused" or not valid or (strict and len(valid) < len(good)):
        assert_refused_for(out, kind, want, str(path), want if kind == "rows" else ())
        assert not reference.exists()
        return
    assert out.code == 0, out.stderr
    event(f"accepted {len(valid)} of {len(good)} rows")
    stored = read_canonical(reference)
    assert len(stored) == len(valid)
    for (_, row), expected in zip(stored.iterrows(), valid):
        assert same_record(row.to_dict(), expected), (row.to_dict(), expected)


@fuzz(30)
@given(case=csv_files(require_target=False))
def test_fuzz_report_current(tmp_path_factory, capsys, case):
    """``mindpulse report --current``'s reader: the contract's rows, or one line naming the problem."""
    import typer

    from bad_input_support import Outcome
    from mindpulse.commands.monitor import _read

    if case["mutation"] == "stdin":
        return  # the report reads a path (standard input is a path too: tested by the other readers)
    CASES["report --current"] += 1
    path = write_case(tmp_path_factory.mktemp("report"), case["data"])
    capsys.readouterr()
    kind, want = expect_file(case, require_target=False)
    valid = [record for record, _ in want if record is not None] if kind == "rows" else []
    try:
        frame = _read(path, "--current")
    except typer.Exit as exit_:
        assert not valid, (kind, capsys.readouterr().err)
        assert_refused_for(Outcome(exit_.exit_code, "", capsys.readouterr().err), kind, want, str(path),
                           want if kind == "rows" else ())
        return
    assert len(frame) == len(valid), (kind, want)
    for (_, row), expected in zip(frame.iterrows(), valid):
        assert same_record(row.to_dict(), expected), (row.to_dict(), expected)


@fuzz(20)
@given(case=csv_files(require_target=False))
def test_fuzz_predict_input(trained_home, tmp_path_factory, case):
    CASES["predict --input"] += 1
    folder = tmp_path_factory.mktemp("predict")
    path, output = write_case(folder, case["data"]), folder / "scored.csv"
    name, stdin = input_args(case, path)
    out = cli("predict", "--input", name, "--output", str(output), home=trained_home, stdin=stdin)
    kind, want = expect_file(case, require_target=False)
    valid = [record for record, _ in want if record is not None] if kind == "rows" else []
    if not valid:
        assert_refused_for(out, kind, want, str(path), want if kind == "rows" else ())
        assert not output.exists()
        return
    assert out.code == 0, out.stderr
    scored = c.read_csv(output, require_target=False)
    assert scored.n_rejected == 0 and scored.n_valid == len(valid)
    for (_, row), expected in zip(scored.valid.iterrows(), valid):
        assert same_record(row.to_dict(), expected), (row.to_dict(), expected)
    assert pd.read_csv(output)["probability"].between(0, 1).all()


@fuzz(20)
@given(case=csv_files(require_target=True), strict=st.booleans())
def test_fuzz_feedback_csv(backend, tmp_path_factory, case, strict):
    CASES["feedback --csv"] += 1
    home, url = backend
    before = snapshot(home, url)
    stored_ids = set(before["id"].dropna())
    path = write_case(tmp_path_factory.mktemp("feedback"), case["data"])
    name, stdin = input_args(case, path)
    out = cli("feedback", "--csv", name, *(["--strict"] if strict else []), home=home, database_url=url, stdin=stdin)
    after = snapshot(home, url)
    kind, want = expect_file(case, require_target=True)
    if kind == "rows":
        want = [(None, {"id"}) if r is not None and r["id"] in stored_ids else (r, bad) for r, bad in want]
    valid = [record for record, _ in want if record is not None] if kind == "rows" else []
    if kind == "refused" or (strict and len(valid) < len(want)):
        assert_refused_for(out, kind, want, str(path), want if kind == "rows" else ())
        assert len(after) == len(before)
        return
    assert out.code == (0 if len(valid) == len(want) else 1), (out.stdout, out.stderr)
    event(f"accepted {len(valid)} of {len(want)} rows")
    new = after.iloc[len(before):]
    assert len(new) == len(valid), (out.stdout, valid)
    for (_, row), expected in zip(new.iterrows(), valid):
        assert same_record(row[list(c.CANONICAL_COLUMNS)].to_dict(), expected), (row.to_dict(), expected)


# -- outcomes: --prediction-id and outcome CSVs ------------------------------------------------

PREDICTIONS = 5
ID_TEXT = st.one_of(st.integers(1, PREDICTIONS).map(str), st.integers(-3, 10).map(str),
                    st.sampled_from(["1.0", "2e0", " 3 ", "0x1", "１", "", "nan", "inf", str(2**63), str(2**63 - 1),
                                     "9" * 400, "1e400", "-1", "\u00bd"]), st.text(max_size=8).filter(lambda t: "\x00" not in t))
OUTCOME_TEXT = st.one_of(st.sampled_from(["0", "1", " 1 ", "1.0", "2", "-1", "", "yes", "１"]), st.text(max_size=4).filter(lambda t: "\x00" not in t))


@pytest.fixture(scope="module")
def logged(backend):
    home, url = backend
    with open_store(home, url) as store:
        for record in generate(PREDICTIONS, seed=3).canonical().drop(columns=["id", c.TARGET]).to_dict("records"):
            store.log_prediction(record, probability=0.5, label=1, model_version="v0001")
    return home, url


def outcomes(home: Path, url: str | None) -> dict[int, int | None]:
    with open_store(home, url) as store:
        frame = store.recent_predictions(limit=1000)
    return {int(p): (None if pd.isna(d) else int(d)) for p, d in zip(frame["prediction_id"], frame[c.TARGET])}


def expect_pid(text: str, known: dict[int, int | None]) -> int | None:
    """A prediction id: ASCII digits in a whole number from 1 to 2**63 - 1, spaces around allowed (no quotes)."""
    text = text.strip()
    if not NUMBER.fullmatch(text):
        return None
    exact = Decimal(text)
    return int(exact) if exact == exact.to_integral_value() and 1 <= exact <= 2**63 - 1 else None


@fuzz(20)
@given(pid=ID_TEXT, outcome=OUTCOME_TEXT)
def test_fuzz_prediction_id(logged, pid, outcome):
    CASES["feedback --prediction-id"] += 1
    home, url = logged
    before = outcomes(home, url)
    out = cli("feedback", "--prediction-id", pid, "--outcome", outcome, home=home, database_url=url)
    after = outcomes(home, url)
    number, label = expect_pid(pid, before), outcome.strip() if outcome.strip() in ("0", "1") else None
    if number in before and label is not None and before[number] in (None, int(label)):
        assert out.code == 0, out.stderr
        assert after[number] == int(label)
    else:
        refused(out, "prediction_id", "Depression", "outcome")
        assert after == before


@fuzz(20)
@given(lines=st.lists(st.tuples(ID_TEXT, OUTCOME_TEXT), max_size=5), strict=st.booleans())
def test_fuzz_outcome_csv(logged, tmp_path_factory, lines, strict):
    CASES["feedback --csv (outcomes)"] += 1
    home, url = logged
    before = outcomes(home, url)
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([("prediction_id", "Depression"), *lines])
    path = write_case(tmp_path_factory.mktemp("outcomes"), buffer.getvalue().encode("utf-8", "surrogatepass"))
    out = cli("feedback", "--csv", str(path), *(["--strict"] if strict else []), home=home, database_url=url)
    after = outcomes(home, url)
    state, good = dict(before), 0
    for pid, outcome in lines:
        number, label = expect_pid(pid, before), outcome.strip() if outcome.strip() in ("0", "1") else None
        if number in state and label is not None and state[number] in (None, int(label)):
            state[number] = int(label)
            good += 1
    if good < len(lines) and strict:
        refused(out, "prediction_id", "Depression", str(path))
        assert after == before
    else:
        assert out.code == (0 if good == len(lines) else 1), (out.stdout, out.stderr)
        assert after == state


# -- registry.json -----------------------------------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=8)
POINTER = st.fixed_dictionaries({}, optional={"champion": JSON, "backup": JSON, "history": JSON, "updated_at": JSON})


@fuzz(30)
@given(content=st.one_of(POINTER.map(json.dumps), JSON.map(json.dumps), st.binary(max_size=40)))
def test_fuzz_registry_json(tmp_path_factory, content):
    CASES["registry.json"] += 1
    home = tmp_path_factory.mktemp("registry")
    pointer = Settings(home=home).artifacts_dir / "registry.json"
    pointer.parent.mkdir(parents=True)
    data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    pointer.write_bytes(data)
    for args in (("models",), ("rollback",)):
        out = cli(*args, home=home)
        if out.code != 0:
            refused(out, str(pointer), "champion", "backup", "rollback")
    assert pointer.read_bytes() == data


# -- the real binary, a few cases --------------------------------------------------------------

@fuzz(4)
@given(case=csv_files(require_target=True))
def test_fuzz_the_binary_agrees_with_the_in_process_cli(tmp_path_factory, case):
    CASES["mindpulse binary (ingest)"] += 1
    homes = [tmp_path_factory.mktemp("binary"), tmp_path_factory.mktemp("inproc")]
    path = write_case(homes[0], case["data"])
    name, stdin = input_args(case, path)
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "MINDPULSE_HOME": str(homes[0])}
    real = subprocess.run([MINDPULSE, "ingest", name], input=stdin or b"", capture_output=True, env=env, timeout=120)
    here = cli("ingest", name, home=homes[1], stdin=stdin)
    assert real.returncode == here.code, (real.stderr, here.stderr)
    if real.returncode:
        assert real.stderr.decode().count("\n") == 1 and b"Traceback" not in real.stderr
    assert sha(Settings(home=homes[0]).reference_path) == sha(Settings(home=homes[1]).reference_path)


def test_fuzz_examples_keep_one_good_record_valid():
    """The generators' good record is accepted (the oracle and the contract agree on the basics)."""
    assert expect_record(RECORD, require_target=False, from_json=True)[0] is not None
    assert c.canonical_record(RECORD)

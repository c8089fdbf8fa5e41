"""Regression tests for each bad input that once crashed a command or was accepted silently.

Each test is named for the bug it holds fixed; the CLI runs in-process (as the binary runs it),
and the store tests run on SQLite and on the local PostgreSQL.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bad_input_support import GOOD, HEADER, RECORD, cli, csv_row, csv_text, refused
from mindpulse import contract as c
from mindpulse.settings import Settings
from mindpulse.store import Store
from mindpulse.synthetic import generate
from postgres_support import fresh_database

MINDPULSE = str(Path(sys.executable).parent / "mindpulse")
BIG_IDS = ("99999999999999999999", "1e20", "9223372036854775808", "-1")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """The store of one test: SQLite in its home, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None  # the home's default SQLite file
        return
    with fresh_database() as url:
        yield url


def stored_rows(home: Path, database_url: str | None) -> pd.DataFrame:
    settings = Settings(home=home, **({"database_url": database_url} if database_url else {}))
    with Store.from_settings(settings) as store:
        return store.production_frame()


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# 1. ids of 2**63 or more ---------------------------------------------------------------------

@pytest.mark.parametrize("big", BIG_IDS)
def test_huge_ids_are_refused_by_every_csv_reader(tmp_path, trained_home, big):
    source = write(tmp_path / "big.csv", csv_text(GOOD, csv_row(id=big)))
    for strict in ((), ("--strict",)):
        home = tmp_path / f"home{len(strict)}"
        out = cli("ingest", str(source), *strict, home=home)
        if strict:
            refused(out, "field 'id'")
            assert not Settings(home=home).reference_path.exists()
        else:
            assert out.code == 0 and "1 rejected" in out.stdout.lower() or "rejected: 1" in out.stdout.lower() \
                or "1 row" in out.stdout, out.stdout
    scored = cli("predict", "--input", str(source), "--output", str(tmp_path / "o.csv"), home=trained_home)
    assert scored.code == 0 and "1 row(s) set aside" in scored.stdout and "'id'" in scored.stdout
    home = tmp_path / "fb"
    fed = cli("feedback", "--csv", str(source), home=home)
    assert fed.code == 1 and "1 of 2 labelled rows accepted" in fed.stdout and "field 'id'" in fed.stdout


def test_the_largest_bigint_id_is_stored_exactly(tmp_path, database_url):
    biggest = str(2**63 - 1)
    source = write(tmp_path / "max.csv", csv_text(csv_row(id=biggest)))
    assert cli("feedback", "--csv", str(source), home=tmp_path, database_url=database_url).code == 0
    assert stored_rows(tmp_path, database_url)["id"].tolist() == [2**63 - 1]


@pytest.mark.parametrize("field", ["id", "Depression"])
def test_huge_numbers_in_feedback_row_are_refused(tmp_path, field):
    record = {**RECORD, "Depression": 1, field: 10**30}
    refused(cli("feedback", "--row", json.dumps(record), home=tmp_path), f"'{field}'")
    assert stored_rows(tmp_path, None).empty


# 2. non-scalar or huge JSON values -----------------------------------------------------------

@pytest.mark.parametrize("value", [[20], {}, {"a": 1}, 10**400, -(10**400), "1" * 5000, None, True])
def test_non_scalar_or_huge_json_age_is_refused(trained_home, value):
    record = json.dumps({**RECORD, "Age": value})
    refused(cli("predict", "--record", record, home=trained_home), "'Age'")


def test_integer_of_more_than_4300_digits_is_refused(trained_home):
    text = json.dumps(RECORD)[:-1] + ', "Age": ' + "9" * 5000 + "}"
    refused(cli("predict", "--record", text, home=trained_home), "--record", "'Age'")


@pytest.mark.parametrize("option", ["predict", "feedback"])
def test_deeply_nested_json_is_refused(trained_home, tmp_path, option):
    args = ("predict", "--record") if option == "predict" else ("feedback", "--row")
    refused(cli(*args, "[" * 100_000, home=trained_home if option == "predict" else tmp_path), args[1])


@pytest.mark.parametrize("city", [True, False, [], {}, ["Delhi"]])
def test_non_text_city_is_refused_not_grouped_as_other(trained_home, city):
    refused(cli("predict", "--record", json.dumps({**RECORD, "City": city}), home=trained_home), "'City'")


# 3. feedback --csv on files the other commands reject ----------------------------------------

def _undecodable(tmp_path: Path) -> dict[str, Path]:
    text = csv_text(GOOD, csv_row(id="3", City="Mumbaí"))
    return {
        "latin-1": write(tmp_path / "latin1.csv", text.encode("latin-1")),
        "utf-16": write(tmp_path / "utf16.csv", text.encode("utf-16")),
        "gzip": write(tmp_path / "g.csv.gz", gzip.compress(text.encode())),
        "binary": write(tmp_path / "bin.csv", bytes(range(256)) * 4),
        "unclosed quote": write(tmp_path / "quote.csv", csv_text(GOOD, csv_row(id="3", Gender='"Male'))),
    }


def test_feedback_csv_refuses_undecodable_or_unparsable_files(tmp_path, trained_home):
    for kind, path in _undecodable(tmp_path).items():
        for args, home in ((("feedback", "--csv", str(path)), tmp_path / "fb"),
                           (("ingest", str(path)), tmp_path / "in"),
                           (("predict", "--input", str(path), "--output", str(tmp_path / "o.csv")), trained_home),
                           (("report", "quality", "--current", str(path)), tmp_path / "rp")):
            line = refused(cli(*args, home=home), str(path))
            assert kind != "latin-1" or "UTF-8" in line, line
    assert stored_rows(tmp_path / "fb", None).empty
    assert not Settings(home=tmp_path / "in").reference_path.exists()


def test_a_utf8_bom_and_crlf_are_accepted(tmp_path):
    source = write(tmp_path / "bom.csv", ("\ufeff" + csv_text(GOOD).replace("\n", "\r\n")).encode("utf-8"))
    assert cli("ingest", str(source), "--strict", home=tmp_path).code == 0
    assert len(pd.read_csv(Settings(home=tmp_path).reference_path)) == 1


# 4. huge --prediction-id ---------------------------------------------------------------------

@pytest.mark.parametrize("pid", [str(2**63), "9" * 400, "1e400", "nan", "-5", "0x10"])
def test_huge_prediction_id_is_refused(tmp_path, database_url, pid):
    refused(cli("feedback", "--prediction-id", pid, "--outcome", "1", home=tmp_path, database_url=database_url),
            "prediction_id")


def test_huge_prediction_id_in_a_feedback_csv_is_reported(tmp_path, database_url):
    source = write(tmp_path / "o.csv", f"prediction_id,Depression\n{2**64},1\n")
    out = cli("feedback", "--csv", str(source), home=tmp_path, database_url=database_url)
    assert out.code == 1 and "field 'prediction_id'" in out.stdout, (out.stdout, out.stderr)


# 5. text longer than the store's column ------------------------------------------------------

def test_profession_longer_than_64_characters_is_refused_on_both_backends(tmp_path, database_url):
    long = "P" * 65
    rows = [csv_row(id=str(i)) for i in range(2, 21)] + [csv_row(id="21", Profession=long)]
    source = write(tmp_path / "long.csv", csv_text(*rows))
    out = cli("feedback", "--csv", str(source), home=tmp_path, database_url=database_url)
    assert out.code == 1 and "19 of 20 labelled rows accepted" in out.stdout and "'Profession'" in out.stdout
    assert len(stored_rows(tmp_path, database_url)) == 19
    record = {**RECORD, "Depression": 0, "Profession": long}
    refused(cli("feedback", "--row", json.dumps(record), home=tmp_path, database_url=database_url), "'Profession'")
    assert "64 characters" in c.FIELD_BY_NAME["profession"].accepted
    fits = {**record, "Profession": "Q" * 64, "id": 99}
    assert cli("feedback", "--row", json.dumps(fits), home=tmp_path, database_url=database_url).code == 0
    assert "Q" * 64 in stored_rows(tmp_path, database_url)["profession"].tolist()


def test_store_columns_hold_every_value_the_contract_accepts():
    from mindpulse.store.schema import production_rows

    for spec in c.FIELDS:
        if spec.kind in ("category", "text") and spec.name in production_rows.c:
            length = production_rows.c[spec.name].type.length
            assert spec.max_length == length, spec.name
            assert all(len(choice) <= length for choice in spec.choices)


# 6. duplicate columns ------------------------------------------------------------------------

@pytest.mark.parametrize("column", ["Depression", "Age", "id"])
def test_duplicate_columns_are_refused_in_every_csv_path(tmp_path, trained_home, column):
    flipped = {"Depression": "0", "Age": "40.0", "id": "7"}[column]
    source = write(tmp_path / "dup.csv", csv_text(GOOD + "," + flipped, header=HEADER + "," + column))
    output = str(tmp_path / "o.csv")
    assert cli("ingest", str(write(tmp_path / "good.csv", csv_text(GOOD))), home=tmp_path / "d").code == 0
    for args, home in ((("ingest", str(source)), tmp_path / "a"), (("ingest", "--strict", str(source)), tmp_path / "b"),
                       (("predict", "--input", str(source), "--output", output), trained_home),
                       (("feedback", "--csv", str(source)), tmp_path / "c"),
                       (("train", "--extra", str(source)), tmp_path / "d")):
        line = refused(cli(*args, home=home), column)
        assert "twice" in line
    assert not Path(output).exists()


def test_duplicate_outcome_columns_are_refused(tmp_path):
    source = write(tmp_path / "o.csv", "prediction_id,Depression,prediction_id\n1,1,2\n")
    refused(cli("feedback", "--csv", str(source), home=tmp_path), "prediction_id")


# 7. NUL bytes --------------------------------------------------------------------------------

def test_nul_byte_in_a_csv_is_refused_not_truncated(tmp_path):
    source = write(tmp_path / "nul.csv", csv_text(csv_row(Degree="Ma\0le")).encode())
    for strict in ((), ("--strict",)):
        line = refused(cli("ingest", *strict, str(source), home=tmp_path), "NUL")
        assert "line 2" in line
    assert not Settings(home=tmp_path).reference_path.exists()


def test_nul_or_control_characters_in_a_record_are_refused(tmp_path, database_url):
    for field, value in (("Profession", "Stu\0dent"), ("Degree", "Ma\0le"), ("Profession", "a\x1bb")):
        record = {**RECORD, "Depression": 1, field: value}
        refused(cli("feedback", "--row", json.dumps(record), home=tmp_path, database_url=database_url), f"'{field}'")
    assert stored_rows(tmp_path, database_url).empty


# 9. pipes, '-', directories and /dev/null ----------------------------------------------------

def test_ingest_reads_standard_input_as_dash(tmp_path, trained_home):
    text = csv_text(GOOD, csv_row(id="3"))
    out = cli("ingest", "-", home=tmp_path, stdin=text)
    assert out.code == 0, out.stderr
    assert len(pd.read_csv(Settings(home=tmp_path).reference_path)) == 2
    scored = cli("predict", "--input", "-", "--output", str(tmp_path / "o.csv"), home=trained_home, stdin=text)
    assert scored.code == 0 and len(pd.read_csv(tmp_path / "o.csv")) == 2
    fed = cli("feedback", "--csv", "-", home=tmp_path / "fb", stdin=text)
    assert fed.code == 0 and "2 of 2 labelled rows accepted" in fed.stdout
    fed = cli("feedback", "--csv", "-", home=tmp_path / "fb", stdin="prediction_id,Depression\n1,1\n")
    assert fed.code == 1 and "prediction_id" in fed.stdout  # outcomes through a pipe too (no such prediction)


@pytest.mark.parametrize("name", ["-", "/dev/stdin"])
def test_the_binary_ingests_a_pipe(tmp_path, name):
    text = csv_text(GOOD, csv_row(id="3"))
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "MINDPULSE_HOME": str(tmp_path)}
    result = subprocess.run(f"cat | {MINDPULSE} ingest {name}", shell=True, input=text, capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(pd.read_csv(Settings(home=tmp_path).reference_path)) == 2


def test_a_directory_or_dev_null_gets_its_own_message(tmp_path, trained_home):
    output = str(tmp_path / "o.csv")
    for args, home in ((("ingest",), tmp_path), (("predict", "--output", output, "--input"), trained_home),
                       (("feedback", "--csv"), tmp_path), (("report", "quality", "--current"), tmp_path)):
        line = refused(cli(*args, str(tmp_path), home=home), str(tmp_path))
        assert "is a directory" in line and "no such file" not in line
        line = refused(cli(*args, "/dev/null", home=home), "/dev/null")
        assert "empty" in line and "no such file" not in line
        line = refused(cli(*args, str(tmp_path / "missing.csv"), home=home), "missing.csv")
        assert "no such file" in line


def test_a_report_on_a_canonical_csv_names_a_bad_cell_or_a_doubled_column(tmp_path):
    canonical = generate(30, seed=3).canonical()
    canonical["cgpa"] = canonical["cgpa"].astype(object)
    canonical.loc[4, "cgpa"] = "high"
    path = tmp_path / "current.csv"
    canonical.to_csv(path, index=False)
    line = refused(cli("report", "quality", "--current", str(path), home=tmp_path), "current.csv")
    assert "line 6, cgpa: got 'high'" in line  # the header is line 1
    doubled = tmp_path / "doubled.csv"
    doubled.write_text(path.read_text().replace("age,", "age,age,", 1))
    refused(cli("report", "quality", "--current", str(doubled), home=tmp_path), "age")


# 10. long values are cut in messages ---------------------------------------------------------

def test_error_lines_cut_long_values(tmp_path, trained_home):
    huge = "x" * 1_048_576
    source = write(tmp_path / "big.csv", csv_text(csv_row(Age=huge)))
    line = refused(cli("ingest", "--strict", str(source), home=tmp_path), "'Age'")
    assert "(1048576 characters)" in line and len(line) < 600
    line = refused(cli("predict", "--record", json.dumps({**RECORD, "Gender": huge}), home=trained_home), "'Gender'")
    assert "(1048576 characters)" in line and len(line) < 600
    scored = cli("predict", "--input", str(source), "--output", str(tmp_path / "o.csv"), home=trained_home)
    assert scored.code != 0 and len(scored.stdout) + len(scored.stderr) < 1000
    assert str(c.Problem(2, "Age", huge, "a number")).split(", expected")[0].count("x") == c.ECHO_LIMIT


# 11. one validation fast path ----------------------------------------------------------------

def test_one_fast_path_for_a_single_record(tmp_path, monkeypatch):
    from dashboard.stores.predict import PredictionStore
    from mindpulse import predict
    from mindpulse.store import production_store, records

    assert predict.canonical_record is c.canonical_record
    assert production_store.canonical_record is c.canonical_record
    assert not hasattr(predict, "_fast_canonical_record") and not hasattr(records, "_fast_canonical")
    assert not hasattr(records, "canonical_record")
    # The dashboard's Predict validates with the same function, before it loads any model.
    checked = []

    def canonical_record(values):
        checked.append(dict(values))
        raise c.ContractError([c.Problem(1, "Age", values["Age"], "a whole number")])

    monkeypatch.setattr(c, "canonical_record", canonical_record)
    with pytest.raises(c.ContractError, match="Age"):
        PredictionStore(settings=Settings(home=tmp_path)).predict({**RECORD, "Age": "x"})
    assert checked == [{**RECORD, "Age": "x"}]


# Ages are whole numbers ----------------------------------------------------------------------

@pytest.mark.parametrize("age, ok", [(20, True), ("20.0", True), (20.0, True), ("20", True), (20.5, False),
                                     ("20.5", False), ("2e1", True), (1e300, False)])
def test_age_must_be_a_whole_number(age, ok):
    record = {**RECORD, "Age": age}
    if ok:
        assert c.canonical_record(record)["age"] == 20.0
        assert c.validate_record(record)["age"] == 20.0
    else:
        with pytest.raises(c.ContractError, match="'Age'.*a whole number"):
            c.canonical_record(record)


def test_the_fast_path_and_the_contract_agree_on_awkward_values():
    for field, value in (("Age", "１９"), ("Age", "1_9"), ("CGPA", "nan"), ("CGPA", "inf"), ("id", "12.0"),
                         ("id", "1e3"), ("id", 2**63 - 1), ("id", "-0"), ("Depression", "1.0"), ("City", "delhi"),
                         ("City", 3.0), ("Gender", " 'Male' "), ("Profession", ""), ("Financial Stress", "")):
        record = {**RECORD, field: value}
        try:
            slow = c.validate_record(record)
        except c.ContractError as exc:
            with pytest.raises(c.ContractError) as fast:
                c.canonical_record(record)
            assert [p.field for p in fast.value.problems] == [p.field for p in exc.problems], (field, value)
        else:
            assert c.canonical_record(record) == slow, (field, value)


# 8. registry.json of the wrong shape ---------------------------------------------------------

POINTERS = {
    "a list": b"[1, 2, 3]",
    "a number as champion": b'{"champion": 5}',
    "history as text": b'{"champion": null, "history": "oops"}',
    "a history event that is no object": b'{"history": [1]}',
    "not UTF-8": b'{"champion": "v0001-\xff"}',
    "not JSON": b"{champion",
    "empty": b"",
}


@pytest.mark.parametrize("kind", list(POINTERS))
def test_registry_json_of_the_wrong_shape_gives_one_line_naming_the_file(tmp_path, kind):
    pointer = Settings(home=tmp_path).artifacts_dir / "registry.json"
    pointer.parent.mkdir(parents=True)
    pointer.write_bytes(POINTERS[kind])
    for args in (("models",), ("rollback",), ("promote", "v0001-20260101T000000Z"),
                 ("predict", "--record", json.dumps(RECORD))):
        line = refused(cli(*args, home=tmp_path), str(pointer))
        assert "Traceback" not in line and len(line) < 600
    assert pointer.read_bytes() == POINTERS[kind]  # nothing rewritten


def test_models_warns_and_fails_when_the_champion_points_at_a_missing_version(tmp_path, trained_home):
    shutil.copytree(trained_home, tmp_path / "home")
    pointer_path = Settings(home=tmp_path / "home").artifacts_dir / "registry.json"
    pointer = json.loads(pointer_path.read_text())
    pointer["champion"] = "v0042-20260101T000000Z"
    pointer_path.write_text(json.dumps(pointer))
    out = cli("models", home=tmp_path / "home")
    assert out.code != 0 and "v0001-" in out.stdout  # the listing is still shown
    assert "champion v0042-20260101T000000Z has no complete version folder" in out.stderr


def test_the_largest_id_reads_back_exactly_beside_rows_without_id(tmp_path, database_url):
    rows = [csv_row(id=str(2**63 - 1)), csv_row(id="")]
    source = write(tmp_path / "mixed.csv", csv_text(*rows))
    assert cli("feedback", "--csv", str(source), home=tmp_path, database_url=database_url).code == 0
    assert stored_rows(tmp_path, database_url)["id"].tolist()[0] == 2**63 - 1

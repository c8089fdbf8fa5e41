"""The data contract: every quirk of the real file survives, every bad cell is named."""

import pandas as pd
import pytest

from mindpulse import contract as c
from mindpulse import data as d

HEADER = ",".join(c.RAW_COLUMNS)
GOOD = "2,Male,33.0,Visakhapatnam,Student,5.0,0.0,8.97,2.0,0.0,'5-6 hours',Healthy,B.Pharm,Yes,3.0,1.0,No,1"


def write_csv(path, *rows, header=HEADER):
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def row(**changes):
    """GOOD with some fields (by real header name) replaced."""
    values = dict(zip(c.RAW_COLUMNS, GOOD.split(",")))
    values.update(changes)
    return ",".join(values[col] for col in c.RAW_COLUMNS)


def test_header_is_the_real_files():
    assert len(c.RAW_COLUMNS) == 18
    assert "Have you ever had suicidal thoughts ?" in c.RAW_COLUMNS
    assert c.RAW_COLUMNS[0] == "id" and c.RAW_COLUMNS[-1] == "Depression"


def test_non_features_are_kept_but_not_model_inputs():
    for name in ("id", "profession", "work_pressure", "job_satisfaction", "depression"):
        assert name in c.CANONICAL_COLUMNS
        assert name not in c.FEATURES
    assert set(c.FEATURES) == set(c.NUMERIC_FEATURES) | set(c.CATEGORICAL_FEATURES)


def test_good_row_is_canonical(tmp_path):
    result = c.read_csv(write_csv(tmp_path / "a.csv", GOOD))
    assert result.problems == []
    rec = result.valid.iloc[0]
    assert list(result.valid.columns) == list(c.CANONICAL_COLUMNS)
    assert rec["sleep_duration"] == "5-6 hours"  # quotes removed
    assert rec["academic_pressure"] == 5.0 and rec["depression"] == 1
    assert rec["suicidal_thoughts"] == "Yes"


@pytest.mark.parametrize(
    "changes, field, expected",
    [
        ({"Sleep Duration": "Others"}, "sleep_duration", "Others"),
        ({"Dietary Habits": "Others"}, "dietary_habits", "Others"),
        ({"Degree": "'Class 12'"}, "degree", "Class 12"),
        ({"Profession": "'Digital Marketer'"}, "profession", "Digital Marketer"),
        ({"City": "'Less Delhi'"}, "city", c.OTHER_CITY),
        ({"City": "3.0"}, "city", c.OTHER_CITY),
        ({"City": "Khaziabad"}, "city", c.OTHER_CITY),
        ({"Academic Pressure": "4"}, "academic_pressure", 4.0),
        ({"Work Pressure": "5.0"}, "work_pressure", 5.0),
        ({"Job Satisfaction": "2.0"}, "job_satisfaction", 2.0),
        ({"Gender": "female"}, "gender", "Female"),
    ],
)
def test_quirks_are_cleaned(tmp_path, changes, field, expected):
    result = c.read_csv(write_csv(tmp_path / "q.csv", row(**changes)))
    assert result.problems == []
    assert result.valid.iloc[0][field] == expected


@pytest.mark.parametrize("missing", ["?", "", "nan"])
def test_missing_financial_stress_is_accepted_as_missing(tmp_path, missing):
    result = c.read_csv(write_csv(tmp_path / "m.csv", row(**{"Financial Stress": missing})))
    assert result.problems == []
    assert pd.isna(result.valid.iloc[0]["financial_stress"])


@pytest.mark.parametrize(
    "field, value",
    [
        ("Gender", "Robot"),
        ("Age", "abc"),
        ("Age", "7"),
        ("Academic Pressure", "6.0"),
        ("Academic Pressure", "2.5"),
        ("CGPA", "11"),
        ("Study Satisfaction", "-1"),
        ("Sleep Duration", "'9 hours'"),
        ("Dietary Habits", "Vegan"),
        ("Degree", "Astronaut"),
        ("Have you ever had suicidal thoughts ?", "Maybe"),
        ("Work/Study Hours", "25"),
        ("Financial Stress", "0"),
        ("Family History of Mental Illness", "2"),
        ("Depression", "2"),
        ("Depression", ""),
        ("Gender", ""),
        ("City", ""),
        ("City", "?"),
        ("City", "null"),
        ("City", "Pu\u009bne"),
        ("Profession", "Stu\u0085dent"),
        ("Degree", "B.Pharm\u0080"),
    ],
)
def test_each_bad_cell_is_named_with_row_field_value_and_accepted(tmp_path, field, value):
    result = c.read_csv(write_csv(tmp_path / "b.csv", GOOD, row(**{"id": "9", field: value})))
    assert result.n_valid == 1 and result.n_rejected == 1
    [problem] = result.problems
    assert problem.row == 3  # line 3 of the file: header, good row, bad row
    assert problem.field == field
    assert problem.value == value.strip("'")
    assert problem.expected
    assert field in result.rejected.iloc[0]["problems"]


def test_missing_column_rejects_the_file(tmp_path):
    header = HEADER.replace("Have you ever had suicidal thoughts ?", "Have you ever had suicidal thoughts?")
    with pytest.raises(c.ContractError) as err:
        c.read_csv(write_csv(tmp_path / "h.csv", GOOD, header=header))
    assert "Have you ever had suicidal thoughts ?" in str(err.value)
    assert err.value.problems[0].row == "header"


def test_duplicate_ids_are_reported(tmp_path):
    result = c.read_csv(write_csv(tmp_path / "d.csv", GOOD, GOOD))
    assert {p.field for p in result.problems} == {"id"}
    assert result.n_valid == 0


def test_optional_columns_take_defaults_and_extra_columns_are_reported():
    record = c.validate_record(
        {"gender": "Male", "age": 20, "city": "Pune", "academic_pressure": 3, "cgpa": 7.5,
         "study_satisfaction": 2, "sleep_duration": "7-8 hours", "dietary_habits": "Healthy",
         "degree": "BSc", "suicidal_thoughts": "No", "work_study_hours": 6, "financial_stress": None,
         "family_history": "Yes"}
    )
    assert record["profession"] == "Student" and record["work_pressure"] == 0.0
    assert record["financial_stress"] is None and record["depression"] is None
    frame = pd.DataFrame([{**{col: v for col, v in zip(c.RAW_COLUMNS, GOOD.split(","))}, "Notes": "x"}])
    assert c.validate_frame(frame).extra_columns == ["Notes"]


def test_validate_record_names_every_bad_field():
    with pytest.raises(c.ContractError) as err:
        c.validate_record({"gender": "X", "age": 200, "city": "Pune", "academic_pressure": 3, "cgpa": 7,
                           "study_satisfaction": 2, "sleep_duration": "7-8 hours", "dietary_habits": "Healthy",
                           "degree": "BSc", "suicidal_thoughts": "No", "work_study_hours": 6,
                           "financial_stress": 3, "family_history": "Yes"})
    assert {p.field for p in err.value.problems} == {"Gender", "Age"}
    assert "'X'" in str(err.value) and "'200'" in str(err.value)


def test_strict_ingest_writes_nothing_and_keeps_previous_reference(settings, tmp_path):
    good = write_csv(tmp_path / "good.csv", GOOD)
    d.ingest_reference(settings, good)
    before = settings.reference_path.read_bytes()
    bad = write_csv(tmp_path / "bad.csv", row(id="3"), row(id="4", Age="abc"))
    with pytest.raises(c.ContractError) as err:
        d.ingest_reference(settings, bad, strict=True)
    assert "Age" in str(err.value)
    assert settings.reference_path.read_bytes() == before
    assert not (settings.rejects_dir / "reference_rejects.csv").exists()


def test_set_aside_ingest_writes_rejects_with_reasons(settings, tmp_path):
    bad = write_csv(tmp_path / "bad.csv", row(id="3"), row(id="4", Degree="Astronaut"))
    summary = d.ingest_reference(settings, bad)
    assert (summary.rows_read, summary.rows_loaded, summary.rows_rejected) == (2, 1, 1)
    rejects = pd.read_csv(summary.rejects_path)
    assert rejects.loc[0, "id"] == 4 and "Degree" in rejects.loc[0, "problems"]
    assert len(d.load_reference(settings)) == 1


def test_file_with_no_valid_row_is_refused(settings, tmp_path):
    bad = write_csv(tmp_path / "bad.csv", row(Age="x"))
    with pytest.raises(c.ContractError):
        d.ingest_reference(settings, bad)
    assert not settings.reference_path.exists()


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(c.ContractError, match="empty"):
        c.read_csv(tmp_path / "empty.csv")
    with pytest.raises(FileNotFoundError):
        c.read_csv(tmp_path / "nope.csv")


def test_to_raw_round_trips_through_the_contract():
    from mindpulse.synthetic import generate

    canonical = generate(300, seed=5).canonical()
    again = c.validate_frame(c.to_raw(canonical)).valid
    pd.testing.assert_frame_equal(canonical, again)


@pytest.mark.parametrize("city", ["", None, "?", "null", "  ", "''"])
def test_a_missing_city_is_refused_with_the_field_named_not_grouped(city):
    record = dict(zip(c.RAW_COLUMNS, GOOD.split(",")), City=city)
    with pytest.raises(c.ContractError) as caught:
        c.canonical_record(record)
    assert [p.field for p in caught.value.problems] == ["City"]
    assert "field 'City'" in str(caught.value)


@pytest.mark.parametrize("character", ["\u0080", "\u0085", "\u009b", "\u009f"])
@pytest.mark.parametrize("field", ["City", "Profession", "Gender"])
def test_c1_control_characters_are_refused_like_c0_ones(field, character):
    """U+0080-U+009F (U+009B is a terminal's CSI, as ESC [ is) are refused in every text field,
    through the record door and the file door alike."""
    values = dict(zip(c.RAW_COLUMNS, GOOD.split(",")))
    record = {**values, field: f"{values[field]}{character}[31m"}
    with pytest.raises(c.ContractError) as caught:
        c.canonical_record(record)
    assert [p.field for p in caught.value.problems] == [field]
    message = str(caught.value)
    assert character not in message and repr(character)[1:-1] in message  # echoed escaped, never raw
    result = c.validate_frame(pd.DataFrame([record], index=[2]))
    assert result.n_valid == 0 and [p.field for p in result.problems] == [field]


def test_cities_outside_the_list_still_load_as_other_as_in_the_real_file(tmp_path):
    """The real file's junk cities (data card: '3.0', 'M.Tech', 'Less Delhi', ...) still load."""
    junk = ["3.0", "M.Tech", "'Less Delhi'", "Khaziabad", "City", "Nalyan", "Ingénieur"]
    path = write_csv(tmp_path / "junk.csv", *[row(id=str(i), City=city) for i, city in enumerate(junk, 2)])
    result = c.read_csv(path)
    assert result.n_rejected == 0 and result.city_grouped == len(junk)
    assert set(result.valid["city"]) == {c.OTHER_CITY}


def test_the_synthetic_real_format_file_validates_unchanged():
    """Every quirk of the real file the generator writes (junk cities included) loads with no row set aside."""
    from mindpulse.synthetic import generate

    raw = generate(3_000, seed=11).raw
    result = c.validate_frame(raw)
    assert result.n_rejected == 0 and result.n_valid == 3_000 and result.city_grouped > 0

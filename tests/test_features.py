"""The feature pipeline: one definition, the same matrix in training and serving."""

import warnings

import numpy as np
import pandas as pd
import pytest

from mindpulse import contract as c
from mindpulse.features import CompiledFeatures, build_preprocessor, feature_frame
from mindpulse.synthetic import generate


@pytest.fixture(scope="module")
def fitted():
    train = generate(3000, seed=21).canonical()
    preprocessor = build_preprocessor().fit(feature_frame(train))
    return preprocessor, CompiledFeatures.from_fitted(preprocessor)


def awkward_rows() -> pd.DataFrame:
    """Fresh rows with every case serving must survive: NaN, unseen and missing categories."""
    frame = generate(400, seed=22).canonical().reset_index(drop=True)
    frame.loc[0:4, "financial_stress"] = np.nan
    frame.loc[5, "city"] = "Atlantis"  # never seen in training
    frame.loc[6, "degree"] = None
    frame.loc[7, "sleep_duration"] = "Others"  # rare: grouped as infrequent
    frame.loc[8, "gender"] = "Nonbinary"  # unseen, and the column has no infrequent group
    frame["unrelated"] = "ignored"
    return frame


def sklearn_transform(preprocessor, frame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return preprocessor.transform(frame)


def test_compiled_features_equal_the_fitted_column_transformer(fitted):
    preprocessor, compiled = fitted
    frame = awkward_rows()
    expected = sklearn_transform(preprocessor, frame)
    assert np.array_equal(compiled.transform(frame), expected)
    # Column order and extra columns of the input do not matter.
    shuffled = frame[list(reversed(frame.columns))]
    assert np.array_equal(compiled.transform(shuffled), expected)
    # One record given as a mapping of single values gives the same row.
    for i in (0, 5, 6, 8):
        record = {name: np.array([frame.at[i, name]], dtype=object) for name in c.FEATURES}
        assert np.array_equal(compiled.transform(record)[0], expected[i])


def test_rare_and_unseen_categories_share_the_infrequent_column(fitted):
    _, compiled = fitted
    frame = awkward_rows()
    matrix = compiled.transform(frame)
    city = compiled.blocks["city"]
    infrequent = compiled.unknown_columns["city"]
    assert infrequent is not None and "infrequent" in compiled.names[infrequent]
    assert matrix[5, infrequent] == 1.0 and matrix[5, city].sum() == 1.0
    # A column without rare values (gender) encodes an unseen value as all zeros.
    assert compiled.unknown_columns["gender"] is None
    assert matrix[8, compiled.blocks["gender"]].sum() == 0.0
    # A missing number takes the training median: the scaled value equals the median's.
    fs = compiled.blocks["financial_stress"].start
    median_row = compiled.numeric_fill[list(compiled.blocks).index("financial_stress")]
    assert matrix[0, fs] == pytest.approx((median_row - compiled.numeric_mean[5]) / compiled.numeric_scale[5])


def test_every_feature_has_its_own_block(fitted):
    _, compiled = fitted
    assert list(compiled.blocks) == [*c.NUMERIC_FEATURES, *c.CATEGORICAL_FEATURES]
    covered = sorted(i for block in compiled.blocks.values() for i in range(block.start, block.stop))
    assert covered == list(range(compiled.n_columns))


def test_a_missing_feature_column_is_named():
    frame = generate(60, seed=1).canonical().drop(columns=["cgpa"])
    with pytest.raises(c.ContractError, match="CGPA"):
        feature_frame(frame)


def test_a_column_empty_in_training_keeps_the_layout():
    train = generate(300, seed=5).canonical()
    train["financial_stress"] = np.nan
    preprocessor = build_preprocessor().fit(feature_frame(train))
    compiled = CompiledFeatures.from_fitted(preprocessor)
    assert compiled.n_columns == sklearn_transform(preprocessor, train).shape[1]
    assert np.array_equal(compiled.transform(train), sklearn_transform(preprocessor, train))

import os

import pandas as pd
import pytest

from mindpulse.io import atomic_path, atomic_write_csv, atomic_write_json


def test_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "out.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"v": 2')  # half-written
            raise RuntimeError("crash mid-write")
    assert target.read_text().strip().replace(" ", "").replace("\n", "") == '{"v":1}'
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary left behind


def test_written_files_follow_the_umask_not_0600(tmp_path):
    path = atomic_write_csv(tmp_path / "sub" / "a.csv", pd.DataFrame({"a": [1]}))
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
    assert pd.read_csv(path)["a"].tolist() == [1]

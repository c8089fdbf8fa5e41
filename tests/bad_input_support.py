"""Helpers for the bad-input tests: the CLI in-process, a trained home, and what "refused" means."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cli_support import invoke
from mindpulse import contract as c
from mindpulse.settings import Settings
from shared_support import migrated

#: A good row of the real file (line 2 of a CSV with the real header).
HEADER = ",".join(c.RAW_COLUMNS)
GOOD = "2,Male,33.0,Visakhapatnam,Student,5.0,0.0,8.97,2.0,0.0,'5-6 hours',Healthy,B.Pharm,Yes,3.0,1.0,No,1"
GOOD_VALUES = dict(zip(c.RAW_COLUMNS, GOOD.split(",")))
#: A good record as JSON would give it (real header, no id, no outcome).
RECORD = {"Gender": "Male", "Age": 20, "City": "Delhi", "Academic Pressure": 4, "CGPA": 7.2,
          "Study Satisfaction": 2, "Sleep Duration": "5-6 hours", "Dietary Habits": "Moderate", "Degree": "BSc",
          "Have you ever had suicidal thoughts ?": "Yes", "Work/Study Hours": 9, "Financial Stress": "?",
          "Family History of Mental Illness": "No"}
#: The longest value an error message may echo, with its "... (N characters)" tail.
MAX_ECHO = getattr(c, "ECHO_LIMIT", 80) + 40


def csv_row(**changes: str) -> str:
    """GOOD with some fields (by real header name) replaced."""
    values = dict(GOOD_VALUES)
    values.update(changes)
    return ",".join(values[col] for col in c.RAW_COLUMNS)


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


def cli(*args: str, home: Path, stdin: bytes | str | None = None, database_url: str | None = None) -> Outcome:
    """Run ``mindpulse ARGS`` in this process (as the binary does), with its own home and store."""
    env = {"MINDPULSE_DATABASE_URL": database_url} if database_url else None
    migrated(Settings(home=home, **({"database_url": database_url} if database_url else {})))  # as deployed
    result = invoke(*args, home=home, env=env, stdin=stdin, cwd=Path.cwd())
    return Outcome(result.returncode, result.stdout, result.stderr)


def refused(outcome: Outcome, *names: str) -> str:
    """Assert a one-line error that names one of ``names`` and echoes no value longer than MAX_ECHO."""
    assert outcome.code != 0, (outcome.code, outcome.stdout, outcome.stderr)
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), outcome.stderr[:2000]
    line = lines[0]
    assert "Traceback" not in outcome.stderr
    if names:
        assert any(name in line for name in names), (names, line[:2000])
    for quoted in re.findall(r"got ('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")", line):
        assert len(quoted) <= MAX_ECHO, quoted[:200]
    # every problem line is bounded: 10 problems at most, each value cut
    assert len(line) < 12 * (MAX_ECHO + 300), len(line)
    return line

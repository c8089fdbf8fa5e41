"""Model cards: a promoted and a refused version, each card's every section checked against the registry."""

from __future__ import annotations

import json
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape
from sklearn.metrics import recall_score, roc_auc_score

from fixtures_models import FAST, one_line_error, run_cli
from mindpulse import gate, model_card
from mindpulse.evaluation import labels_of
from mindpulse.groups import auc_interval, group_labels, group_metrics
from mindpulse.model_card import CARD_HTML, CARD_JSON, ModelCard, read_card, refresh_cards, write_card
from mindpulse.registry import ModelRegistry, RegistryError
from mindpulse.settings import Settings, get_settings
from mindpulse.synthetic import generate
from mindpulse.train import train_register_and_judge

pytestmark = pytest.mark.slow  # trains models

MIN_SIZE = 100
EXTRA = "dietary_habits"
GROUP_ENV = {"MINDPULSE_GROUP_MIN_SIZE": str(MIN_SIZE), "MINDPULSE_GROUP_COLUMNS": EXTRA}
QUARANTINE_REASON = "a <script>alert(1)</script> batch typed by a test form"
LINEAGE = {
    "run": {"dag_id": "retrain_pipeline", "run_id": "manual__2026-11-30"},
    "reference": {"path": None, "sha256": "0" * 64, "rows": 3000},
    "snapshots": [{"id": 4, "rows": 120, "sha256": "4" * 64, "trained_rows": 96, "recent_rows": 24,
                   "claimed_at": "2026-11-30T06:00:00+00:00"}],
    "window": None, "seed": 43, "recent": {"snapshots": [4], "rows": 300},
    "quarantined": [{"id": 3, "reason": QUARANTINE_REASON, "by": "admin", "at": "2026-11-29T10:00:00+00:00"}],
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """A home whose registry holds a first champion and a challenger the gate refused (shuffled labels),
    each card written by training itself (train_register_and_judge), with the group settings of GROUP_ENV."""
    home = tmp_path_factory.mktemp("cards")
    messages: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("MINDPULSE_")]:
            patch.delenv(name)
        patch.setenv("MINDPULSE_HOME", str(home))
        for name, value in GROUP_ENV.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        registry = ModelRegistry(home / "artifacts")
        frame = generate(3000, seed=21).canonical()
        first = train_register_and_judge(frame, registry, seed=42, margin=0.005, data_source="reference data", candidates=FAST,
                               folds=3, progress=messages.append)
        shuffled = frame.assign(depression=frame["depression"].sample(frac=1.0, random_state=1).to_numpy())
        second = train_register_and_judge(shuffled, registry, seed=43, margin=0.005, data_source="shuffled <b>labels</b>",
                                candidates=FAST, folds=3, recent=generate(300, seed=22).canonical(),
                                lineage=LINEAGE, progress=messages.append)
    get_settings.cache_clear()
    assert first.promoted and not second.promoted, (first, second)
    return home, registry, first.version, second.version, messages


def settings_for(home: Path) -> Settings:
    return Settings(home=home, group_min_size=MIN_SIZE, group_columns=[EXTRA])


def card_of(registry: ModelRegistry, version: str) -> ModelCard:
    return ModelCard.model_validate_json((registry.get(version).path / CARD_JSON).read_text(encoding="utf-8"))


def page_of(registry: ModelRegistry, version: str) -> str:
    return (registry.get(version).path / CARD_HTML).read_text(encoding="utf-8")


class _Page(HTMLParser):
    """The section ids of a page, and every tag or attribute that would make a browser fetch something."""

    FETCHING_TAGS = {"script", "link", "img", "iframe", "object", "embed", "video", "audio", "source", "base"}
    FETCHING_ATTRIBUTES = {"src", "href", "srcset", "action", "poster", "data", "background", "xlink:href"}

    def __init__(self, text: str):
        super().__init__()
        self.sections: list[str] = []
        self.fetching: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "section":
            self.sections.append(attributes.get("id"))
        if tag in self.FETCHING_TAGS:
            self.fetching.append(tag)
        self.fetching += [f"{tag}[{name}]" for name in attributes if name in self.FETCHING_ATTRIBUTES]
        if "url(" in (attributes.get("style") or ""):
            self.fetching.append(f"{tag}[style]")


SECTIONS = ["intended-use", "training-data", "quality", "groups", "comparison", "known-limits", "provenance"]


def test_training_writes_a_card_for_the_promoted_and_the_refused_version(trained):
    home, registry, promoted, refused, messages = trained
    for version in (promoted, refused):
        card = card_of(registry, version)
        assert card.schema_version == 1 and card.version == version
        assert card.status == registry.get(version).status
        page = _Page(page_of(registry, version))
        assert page.sections == SECTIONS  # no approval recorded: no approval section
        assert page.fetching == [], f"the card of {version} would fetch: {page.fetching}"
        assert f"Model card: {registry.get(version).path / CARD_HTML}" in messages
    assert card_of(registry, promoted).status == "champion" and card_of(registry, refused).status == "refused"


def test_intended_use_says_screening_aid_never_diagnosis_and_where_to_find_help(trained):
    _, registry, promoted, refused, _ = trained
    for version in (promoted, refused):
        card, page = card_of(registry, version), page_of(registry, version)
        assert "screening aid, never a diagnosis" in card.intended_use
        assert "crisis line" in card.help and "counsellor" in card.help
        assert any("diagnos" in item for item in card.not_for)
        assert "A screening aid, never a diagnosis." in page and "Where to find help:" in page
        assert str(escape(card.help)) in page


def test_training_data_gives_lineage_balance_and_population(trained):
    _, registry, promoted, refused, _ = trained
    for version in (promoted, refused):
        meta = registry.get(version).metadata
        data = card_of(registry, version).training_data
        assert data.rows == meta["data"]["rows"] and data.sha256 == meta["data"]["sha256"]
        assert data.positives + data.negatives == data.rows
        assert data.positives == round(meta["data"]["positive_rate"] * data.rows)
        assert data.rows_offered == 3000 and data.holdout_rows_excluded == meta["data"]["holdout_rows_excluded"]
        # The population was taken from the training rows at registration: every attribute covers them all.
        assert data.population is not None and data.population.rows == data.rows
        for attribute in ("gender", "age_band", EXTRA):
            rows = [g for g in data.population.groups if g.attribute == attribute]
            assert rows and sum(g.rows for g in rows) == data.rows
            assert sum(g.share for g in rows) == pytest.approx(1.0)
    refused_data = card_of(registry, refused).training_data
    assert [s["id"] for s in refused_data.snapshots] == [4] and refused_data.recent_rows == 300
    assert refused_data.quarantined[0]["reason"] == QUARANTINE_REASON
    assert "snapshot 4 (96 of 120 rows)" in refused_data.lineage and "snapshot 3 left out (quarantined)" in refused_data.lineage
    page = page_of(registry, refused)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script" not in page
    assert "shuffled &lt;b&gt;labels&lt;/b&gt;" in page
    assert "2026-11-30T06:00:00+00:00" in page  # the snapshot's date


def test_quality_figures_match_the_model_on_the_holdout(trained):
    _, registry, promoted, refused, _ = trained
    holdout = registry.holdout()
    y = labels_of(holdout)
    for version in (promoted, refused):
        card = card_of(registry, version)
        model = registry.load_model(version)
        p = model.predict_proba(holdout)
        fixed = card.quality.fixed_holdout
        assert fixed.rows == len(holdout) and fixed.positives == int(y.sum())
        assert fixed.roc_auc == pytest.approx(roc_auc_score(y, p))
        assert fixed.roc_auc == pytest.approx(registry.get(version).metadata["holdout"]["roc_auc"])
        assert fixed.interval[0] < fixed.roc_auc < fixed.interval[1]
        cv = card.quality.cv
        assert cv.roc_auc == pytest.approx(registry.get(version).metric("cv")) and cv.interval[0] < cv.interval[1]
        threshold = card.quality.threshold
        assert threshold.value == pytest.approx(model.threshold)
        flagged = (p >= model.threshold).astype(int)
        assert threshold.sensitivity == pytest.approx(recall_score(y, flagged))
        assert threshold.specificity == pytest.approx(recall_score(1 - y, 1 - flagged))
        assert threshold.true_positives + threshold.false_negatives == int(y.sum())
        bins = card.quality.calibration.bins
        assert 5 <= len(bins) <= 10 and sum(b.rows for b in bins) == len(holdout)
        assert sum(b.observed_rate * b.rows for b in bins) == pytest.approx(y.sum())
        page = page_of(registry, version)
        assert page.count('<circle class="bin"') == len(bins)  # one point of the curve per bin
        assert f"{fixed.roc_auc:.4f}" in page and f"{threshold.value:.2f}" in page
    assert card_of(registry, promoted).quality.recent is None
    recent = card_of(registry, refused).quality.recent
    assert recent.rows == 300 and recent.roc_auc == pytest.approx(registry.get(refused).metadata["recent"]["roc_auc"])
    assert "recent slice" in page_of(registry, refused)


def test_group_metrics_cover_the_holdout_and_name_the_largest_gap(trained):
    _, registry, promoted, refused, _ = trained
    holdout = registry.holdout()
    y = labels_of(holdout)
    for version in (promoted, refused):
        groups = card_of(registry, version).groups
        assert groups.attributes == ["gender", "age_band", EXTRA] and groups.min_size == MIN_SIZE
        for attribute in groups.attributes:
            rows = [g for g in groups.groups if g.attribute == attribute]
            assert sum(g.n for g in rows) == len(holdout)  # each attribute partitions the holdout
            assert sum(g.positives for g in rows) == int(y.sum())
        for g in groups.groups:
            judgeable = g.n >= MIN_SIZE and 0 < g.positives < g.n
            assert g.judged == judgeable, g
            assert (g.roc_auc is not None) == judgeable and (g.interval is not None) == judgeable
            if not judgeable:
                assert g.note.startswith("too small to judge")
        assert any(g.judged for g in groups.groups) and any(not g.judged for g in groups.groups)
        gaps = {}
        for attribute in groups.attributes:
            judged = [g.roc_auc for g in groups.groups if g.attribute == attribute and g.judged]
            if len(judged) >= 2:
                gaps[attribute] = max(judged) - min(judged)
        gap = groups.largest_gap
        assert gap["difference"] == pytest.approx(max(gaps.values()))
        assert gaps[gap["attribute"]] == pytest.approx(gap["difference"])
        page = page_of(registry, version)
        assert f"Largest gap: ROC-AUC {gap['difference']:.4f}" in page
        assert page.count('<tr class="not-judged">') == sum(not g.judged for g in groups.groups)


def test_the_comparison_gives_the_gates_verdict_in_words(trained):
    _, registry, promoted, refused, _ = trained
    first = card_of(registry, promoted).comparison
    assert first.gated and first.promoted and first.champion_before is None
    assert first.verdict.startswith("promoted to champion: first model")
    second = card_of(registry, refused).comparison
    reason = registry.get(refused).metadata["refusal_reason"]
    assert second.promoted is False and second.champion_before == promoted
    assert second.verdict == gate.in_words(False, reason) and second.verdict.startswith("refused: ")
    assert reason.removeprefix("refused: ") in second.verdict
    assert {s["slice"] for s in second.slices} == {gate.FIXED, gate.RECENT}
    page = page_of(registry, refused)
    assert str(escape(second.verdict)) in page
    assert all(str(escape(s["words"])) in page for s in second.slices)
    if "groups" in (registry.get(refused).metadata.get("gate") or {}):
        assert second.groups == registry.get(refused).metadata["gate"]["groups"]
    else:  # a gate that compared no groups: said, not hidden
        assert second.groups is None and "not recorded" in second.groups_note
        assert str(escape(second.groups_note)) in page


def test_known_limits_and_provenance(trained):
    _, registry, promoted, refused, _ = trained
    for version, seed in ((promoted, 42), (refused, 43)):
        card, meta = card_of(registry, version), registry.get(version).metadata
        assert any(limit.startswith("Label shift defeats the estimate made without labels") for limit in card.known_limits)
        assert any("Work Pressure" in limit for limit in card.known_limits)
        assert card.provenance.seed == seed and card.provenance.code == meta["code"]
        assert card.provenance.model_sha256 == meta["model_sha256"]
        assert {"scikit_learn", "xgboost", "pandas", "python"} <= set(card.provenance.code)
        page = page_of(registry, version)
        assert f'<td id="seed">{seed}</td>' in page and meta["code"]["scikit_learn"] in page


def test_writing_again_changes_nothing_and_a_status_change_does_not_reload_the_model(trained, tmp_path, monkeypatch):
    home, template, promoted, refused, _ = trained
    shutil.copytree(home / "artifacts", tmp_path / "artifacts")
    registry = ModelRegistry(tmp_path / "artifacts")
    settings = settings_for(tmp_path)
    paths = read_card(registry, refused, settings)
    before = {kind: path.stat().st_mtime_ns for kind, path in paths.items()}
    write_card(registry, refused, settings)
    assert {kind: path.stat().st_mtime_ns for kind, path in paths.items()} == before  # idempotent
    old = card_of(registry, refused)

    assert registry.promote(refused, force=True, reason="the card test").promoted

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded again for a change of status")

    monkeypatch.setattr(ModelRegistry, "load_model", no_model)
    read_card(registry, refused, settings)
    assert sorted(refresh_cards(registry, settings)) == [promoted]
    new = card_of(registry, refused)
    assert new.status == "champion" and card_of(registry, promoted).status == "backup"
    assert new.quality == old.quality and new.groups == old.groups
    assert new.comparison.forced and new.comparison.verdict.startswith("promoted to champion: forced: the card test")
    assert 'class="status champion"' in page_of(registry, refused)


def test_an_approval_and_the_gates_group_comparison_are_shown_when_recorded(trained, tmp_path):
    home, _, promoted, refused, _ = trained
    shutil.copytree(home / "artifacts", tmp_path / "artifacts")
    registry = ModelRegistry(tmp_path / "artifacts")
    meta_path = registry.get(refused).path / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["approval"] = {"status": "rejected", "by": "admin", "comment": "worse for <i>older</i> students",
                        "at": "2026-12-01T09:00:00Z"}
    meta["gate"]["groups"] = [
        {"attribute": "age_band", "group": "36+", "n": 40, "positives": 9, "judged": False, "champion": None,
         "challenger": None, "difference": None, "interval": None, "refused": False},
        {"attribute": "gender", "group": "Female", "n": 270, "positives": 150, "judged": True, "champion": 0.91,
         "challenger": 0.52, "difference": -0.39, "interval": [-0.45, -0.33], "refused": True},
    ]
    meta["gate"]["largest_gap"] = {"attribute": "gender", "difference": 0.05}
    meta_path.write_text(json.dumps(meta))
    read_card(registry, refused, settings_for(tmp_path))  # the approval changed: written again
    card, page = card_of(registry, refused), page_of(registry, refused)
    assert card.approval.model_dump() == {"status": "rejected", "by": "admin",
                                          "comment": "worse for <i>older</i> students", "at": "2026-12-01T09:00:00Z"}
    assert _Page(page).sections == [*SECTIONS[:5], "approval", *SECTIONS[5:]]
    assert "worse for &lt;i&gt;older&lt;/i&gt; students" in page
    assert card.comparison.groups == meta["gate"]["groups"] and card.comparison.largest_gap["attribute"] == "gender"
    assert 'id="gate-groups"' in page and "no (too small)" in page and ">refused<" in page
    assert "0.5200" in page and "-0.3900" in page and "-0.4500 – -0.3300" in page
    assert "Largest gap recorded by the gate: attribute gender; difference 0.05." in page


def test_a_card_for_an_unknown_version_names_it(trained):
    _, registry, *_ = trained
    with pytest.raises(RegistryError, match="v0099-20260101T000000Z.*expected one of the registered versions"):
        write_card(registry, "v0099-20260101T000000Z")


def test_a_card_that_cannot_be_written_does_not_undo_training(trained, tmp_path, monkeypatch):
    home, *_ = trained
    shutil.copytree(home / "artifacts", tmp_path / "artifacts")
    registry = ModelRegistry(tmp_path / "artifacts")

    def broken(*args, **kwargs):
        raise ValueError("the disk said no")

    monkeypatch.setattr(model_card, "build_card", broken)
    said: list[str] = []
    outcome = train_register_and_judge(generate(1500, seed=31).canonical(), registry, seed=44, margin=1.0, data_source="test",
                             candidates=FAST, folds=3, progress=said.append)
    assert outcome.promoted and registry.champion().version == outcome.version
    assert f"Model card of {outcome.version} not written: the disk said no" in said
    assert not (registry.get(outcome.version).path / CARD_JSON).exists()


def test_the_cli_prints_a_card_and_names_an_unknown_version(trained, tmp_path):
    home, _, promoted, refused, _ = trained
    shutil.copytree(home / "artifacts", tmp_path / "artifacts")
    registry = ModelRegistry(tmp_path / "artifacts")
    (registry.get(refused).path / CARD_HTML).unlink()  # a missing card is written on demand
    printed = run_cli("models", "card", refused, home=tmp_path, extra_env=GROUP_ENV, check=True).stdout
    assert json.loads(printed) == json.loads((registry.get(refused).path / CARD_JSON).read_text())
    assert json.loads(printed)["comparison"]["promoted"] is False
    path = run_cli("models", "card", promoted, "--html", home=tmp_path, extra_env=GROUP_ENV, check=True).stdout.strip()
    assert Path(path) == registry.get(promoted).path / CARD_HTML and Path(path).is_file()
    assert (registry.get(refused).path / CARD_HTML).is_file()
    line = one_line_error(run_cli("models", "card", "v0099-20260101T000000Z", home=tmp_path))
    assert "v0099-20260101T000000Z" in line and promoted in line
    listing = run_cli("models", home=tmp_path, check=True).stdout  # the bare group still lists
    assert promoted in listing and "refused" in listing


# --- the per-group metrics on their own -------------------------------------------------------

def test_group_metrics_mark_small_and_one_outcome_groups_and_are_seeded():
    rng = np.random.default_rng(5)
    n = 400
    frame = pd.DataFrame({"gender": ["Female"] * 250 + ["Male"] * 140 + ["Other"] * 10,
                          "age": rng.integers(18, 40, n).astype(float), "city": ["Delhi"] * n})
    y = (rng.random(n) < 0.55).astype(int)
    y[250:390] = 1  # every Male row positive: one outcome only
    p = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    report = group_metrics(frame, y, p, 0.5, extra=["city"], min_size=100, seed=3)
    by_name = {(g.attribute, g.group): g for g in report.groups}
    assert by_name[("gender", "Female")].judged
    assert by_name[("gender", "Male")].note == "too small to judge: only one outcome among its 140 rows"
    assert by_name[("gender", "Other")].note == "too small to judge: 10 rows (fewer than 100)"
    female = by_name[("gender", "Female")]
    assert female.roc_auc == pytest.approx(roc_auc_score(y[:250], p[:250]))
    assert female.sensitivity == pytest.approx(recall_score(y[:250], (p[:250] >= 0.5).astype(int)))
    assert by_name[("city", "Delhi")].n == n
    assert sum(g.n for g in report.groups if g.attribute == "age_band") == n
    assert group_metrics(frame, y, p, 0.5, extra=["city"], min_size=100, seed=3).to_dict() == report.to_dict()
    labels = group_labels(frame, ["city"])
    assert list(labels.columns) == ["gender", "age_band", "city"]
    with pytest.raises(KeyError, match="'degree' is not a column"):
        group_metrics(frame, y, p, 0.5, extra=["degree"])


def test_the_auc_interval_brackets_the_auc_and_narrows_with_more_rows():
    rng = np.random.default_rng(9)

    def sample(n):
        y = (rng.random(n) < 0.5).astype(int)
        return y, np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1)

    small, large = sample(150), sample(3000)
    low_s, high_s = auc_interval(*small, seed=1)
    low_l, high_l = auc_interval(*large, seed=1)
    assert low_s < roc_auc_score(*small) < high_s and low_l < roc_auc_score(*large) < high_l
    assert high_l - low_l < (high_s - low_s) / 2
    assert auc_interval(*small, seed=1) == (low_s, high_s) and auc_interval(*small, seed=2) != (low_s, high_s)
    assert auc_interval(np.ones(10, dtype=int), np.linspace(0, 1, 10)) is None


# --- the API's card routes --------------------------------------------------------------------

@pytest.fixture(scope="module")
def api_server(demo_template: Path, tmp_path_factory: pytest.TempPathFactory):
    import api_support as api

    home = tmp_path_factory.mktemp("card-api") / "home"
    tokens = api.prepare_home(demo_template, home)
    running = api.start_server(home, tokens)
    yield running
    running.stop()


def test_the_api_serves_a_card_as_json_and_as_an_offline_page_to_readers(api_server):
    registry = ModelRegistry.from_settings(api_server.settings)
    champion = registry.champion().version
    with api_server.client("viewer") as viewer:
        listed = {v["version"]: v["card"] for v in viewer.get("/api/v1/models").json()["versions"]}
        assert listed[champion] == f"/api/v1/models/{champion}/card"
        record = viewer.get(listed[champion])
        assert record.status_code == 200, record.text
        card = ModelCard.model_validate(record.json())
        assert card.version == champion and card.status == "champion"
        assert record.json() == json.loads((registry.get(champion).path / CARD_JSON).read_text())
        page = viewer.get(f"/api/v1/models/{champion}/card.html")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        assert _Page(page.text).sections == SECTIONS and _Page(page.text).fetching == []
        assert "A screening aid, never a diagnosis." in page.text
        for suffix in ("card", "card.html"):
            for unknown in ("v0099-20260101T000000Z", "latest"):
                missing = viewer.get(f"/api/v1/models/{unknown}/{suffix}")
                assert missing.status_code == 404, missing.text
                assert missing.headers["content-type"].startswith("application/problem+json")
                assert unknown in missing.json()["detail"]
    with api_server.client() as anonymous:
        assert anonymous.get(f"/api/v1/models/{champion}/card").status_code == 401


def test_an_account_without_the_read_right_gets_403_for_a_card(api_server):
    from mindpulse.accounts import Accounts

    champion = ModelRegistry.from_settings(api_server.settings).champion().version
    with api_server.store() as store:
        token, _ = Accounts(store).create_token("admin", "predict only", scopes="predict")
    with api_server.client(token=token) as client:
        for suffix in ("card", "card.html"):
            refused = client.get(f"/api/v1/models/{champion}/{suffix}")
            assert refused.status_code == 403, refused.text
            assert "'read'" in refused.json()["detail"]


def test_a_card_written_later_rebuilds_the_training_population_from_the_reference_it_checks(tmp_path):
    from mindpulse import lineage
    from mindpulse.data import generate_reference, load_reference

    settings = Settings(home=tmp_path, group_min_size=MIN_SIZE)
    generate_reference(settings, rows=1500, seed=12)
    reference = load_reference(settings)
    registry = ModelRegistry.from_settings(settings)
    record = {"run": None, "reference": lineage.reference_record(settings, reference), "snapshots": [],
              "window": None, "seed": None, "recent": {"snapshots": [], "rows": 0}}
    version = train_register_and_judge(reference, registry, seed=5, margin=0.005, data_source="reference", candidates=FAST,
                             folds=3, lineage=record).version
    written = card_of(registry, version).training_data.population
    (registry.get(version).path / CARD_JSON).unlink()  # as for a version registered before cards existed
    write_card(registry, version, settings)
    rebuilt = card_of(registry, version).training_data
    assert rebuilt.population == written and rebuilt.population.rows == registry.get(version).metadata["data"]["rows"]
    assert rebuilt.population_note.endswith("(checked by sha256)")

    settings.reference_path.write_text(settings.reference_path.read_text().replace("Male", "Female", 1))
    (registry.get(version).path / CARD_JSON).unlink()
    write_card(registry, version, settings)  # the file changed since: not taken for the training rows
    changed = card_of(registry, version).training_data
    assert changed.population is None and changed.population_note.startswith("not recorded")
    assert "Training population not recorded" in page_of(registry, version)


def test_a_candidate_with_little_metadata_gets_a_card_that_says_what_is_not_recorded(trained, tmp_path):
    from mindpulse.train import train_candidates

    home, *_ = trained
    shutil.copytree(home / "artifacts", tmp_path / "artifacts")
    registry = ModelRegistry(tmp_path / "artifacts")
    frame = registry.exclude_holdout(generate(800, seed=3).canonical())
    result = train_candidates(frame, seed=3, folds=3, candidates=FAST)
    version = registry.register(result.model, {"data": {"rows": len(frame)}}).version
    write_card(registry, version, settings_for(tmp_path))
    card, page = card_of(registry, version), page_of(registry, version)
    assert card.status == "candidate" and not card.comparison.gated
    assert card.comparison.verdict == "not through the gate yet (a candidate)"
    assert card.provenance.seed is None and card.quality.cv.roc_auc is None
    assert card.quality.fixed_holdout.roc_auc == pytest.approx(roc_auc_score(labels_of(registry.holdout()),
                                                                             result.model.predict_proba(registry.holdout())))
    assert card.training_data.population is None and "Training population not recorded" in page
    assert _Page(page).sections == SECTIONS

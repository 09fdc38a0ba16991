"""Data-sharing agreements held to: a final pack needs one per dataset, in date; status counts
the days left; DATA_SHARING.md and the transparency record are filled from them; `data purge`
deletes an expired dataset and everything made from it (and only that), and records it."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from _packs import AGREEMENT, make_packable
from _text import flat

from expedition.config import update_config
from expedition.datasets import add_dataset
from expedition.errors import ConfigError
from expedition.governance import agreement_problems, purge, retention
from expedition.pack import build_pack
from expedition.review import sign_off

WHEN = date(2026, 12, 1)


def agree(project, dataset: str, **changes):
    update_config(project.config_path,
                  lambda doc: doc["datasets"][dataset].__setitem__("agreement", {**AGREEMENT, **changes}))
    return project.reload()


@pytest.fixture
def packable(project, tmp_path):
    csv_path = tmp_path / "referrals.csv"
    csv_path.write_text("id,district,age\n1,Basildon,4\n2,Harlow,7\n3,Maldon,12\n")
    return make_packable(project, csv_path)


def test_data_add_warns_without_an_agreement(cli, project_dir, referrals_csv):
    result = cli("data", "add", str(referrals_csv), "--name", "referrals", "-p", str(project_dir))
    assert result.exit_code == 0
    assert "no data-sharing agreement" in flat(result.stderr)


def test_a_final_pack_is_refused_without_agreements_and_accepted_with_them(cli, packable, tmp_path):
    sign_off(packable, "A. Reviewer")
    other = tmp_path / "police.csv"
    other.write_text("id,force\n1,Essex\n")
    add_dataset(packable, other, "police")
    project = packable.reload()
    p = str(project.root)
    refused = cli("pack", "--final", "-p", p)
    assert refused.exit_code == 2
    assert "'police' has no data-sharing agreement" in flat(refused.stderr)
    assert "'referrals'" not in flat(refused.stderr)
    project = agree(project, "police", retain_until="2026-11-30")
    refused = cli("pack", "--final", "-p", p)
    assert refused.exit_code == 2 and "'police' is past its retention date" in flat(refused.stderr)
    project = agree(project, "police", reference="DSA-TEST-002", retain_until="2099-01-01")
    built = cli("pack", "--final", "--json", "-p", p)
    assert built.exit_code == 0, built.output
    pack = Path(json.loads(built.stdout)["path"])
    record = (pack / "transparency.md").read_text()
    assert "DSA-TEST-001" in record and "DSA-TEST-002" in record and "kept until 2099-01-01" in record
    sharing = (project.root / "DATA_SHARING.md").read_text()
    assert "| police |" in sharing and "DSA-TEST-002; UK GDPR Article 6(1)(e) public task; retain until 2099-01-01" in sharing


def test_status_shows_the_days_left(cli, packable):
    project = agree(packable, "referrals", retain_until=(date.today() + timedelta(days=40)).isoformat())
    [kept] = retention(project)
    assert kept.days_left == 40
    doc = json.loads(cli("status", "--json", "-p", str(project.root)).stdout)
    assert doc["datasets"]["referrals"]["retention"]["days_left"] == 40
    assert "40 days left" in flat(cli("status", "-p", str(project.root)).stdout)


def test_a_bad_agreement_is_a_config_error(project, referrals_csv):
    add_dataset(project, referrals_csv, "referrals")
    with pytest.raises(ConfigError):
        agree(project.reload(), "referrals", retain_until="next spring")


def test_purge_deletes_the_expired_dataset_and_only_that(cli, project, tmp_path, validated):
    """Two datasets, one past its date: its raw copy, validated and quarantined rows, quality
    reports, the derived dataset made from it and the finding that read it go; the other
    dataset's files, and the pack already built, stay."""
    from expedition.examples.referrals import write
    from expedition.prepare import prepare
    from expedition.runner import run

    add_dataset(project, write(tmp_path / "old.csv", rows=300, seed=3), "old")
    add_dataset(project, write(tmp_path / "new.csv", rows=300, seed=4), "new")
    project = validated(validated(project.reload(), "old"), "new")
    project = agree(project, "old", reference="DSA-OLD", retain_until="2026-01-31")
    project = agree(project, "new", reference="DSA-NEW", retain_until="2099-01-31")

    def steps(doc):
        doc["derived"] = {"old_girls": {"sql": "SELECT * FROM old WHERE age >= 8"}}
        doc["steps"] = [{"id": "old-look", "step": "eda", "dataset": "old_girls"},
                        {"id": "new-look", "step": "eda", "dataset": "new"}]

    update_config(project.config_path, steps)
    project = project.reload()
    prepare(project)
    run(project)
    pack = build_pack(project, when=WHEN).path
    before = {p for p in project.root.rglob("*") if p.is_file()}
    old_files = {p for p in before if "old" in p.relative_to(project.root).as_posix()
                 and ".expedition/history" not in p.as_posix() and p.parent != project.root
                 and "findings" not in p.relative_to(project.root).parts[:1]
                 and "schemas" not in p.relative_to(project.root).parts[:1]}
    assert any("data/raw/old" in p.as_posix() for p in old_files)

    plan = json.loads(cli("data", "purge", "--dry-run", "--json", "-p", str(project.root)).stdout)
    assert [d["dataset"] for d in plan["purged"]] == ["old"] and not plan["deleted"]
    assert {p for p in project.root.rglob("*") if p.is_file()} == before  # a dry run deletes nothing
    assert cli("data", "purge", "-p", str(project.root), input="n\n").exit_code == 1
    assert {p for p in project.root.rglob("*") if p.is_file()} == before

    done = cli("data", "purge", "-y", "-p", str(project.root))
    assert done.exit_code == 0, done.output
    after = {p for p in project.root.rglob("*") if p.is_file()}
    assert not (old_files & after), sorted(map(str, old_files & after))[:5]
    for rel in ("data/raw/new", "data/interim/new.parquet", ".expedition/quality/new",
                ".expedition/findings/new-look"):
        assert (project.root / rel).exists(), rel
    assert pack.exists() and "findings/" in done.stdout  # listed, kept
    project = project.reload()
    assert project.config.datasets["old"].deliveries == []
    assert project.config.datasets["old"].agreement.reference == "DSA-OLD"
    history = [json.loads(line) for line in (project.state_dir / "history.jsonl").read_text().splitlines()]
    [entry] = [h for h in history if h["event"] == "purge"]
    assert entry["dataset"] == "old" and entry["agreement"] == "DSA-OLD" and entry["user"]
    assert entry["retain_until"] == "2026-01-31" and entry["date"] == date.today().isoformat()
    assert [d["version"] for d in entry["deliveries"]] == [1] and len(entry["deliveries"][0]["sha256"]) == 64
    assert any(f.startswith("data/raw/old") for f in entry["files"])
    assert not agreement_problems(project)  # nothing left to publish from it
    assert purge(project).purged == []


def test_purge_with_nothing_expired_says_so(cli, packable):
    result = cli("data", "purge", "-y", "-p", str(packable.root))
    assert result.exit_code == 0 and "nothing is past its retention date" in flat(result.stdout)


def test_the_aqua_book_roles_sign_their_own_checklists_and_the_pack_shows_them(cli, packable):
    p = str(packable.root)
    commissioner = cli("review", "--by", "C. Commissioner", "--as", "commissioner", "--role",
                       "Head of Service", "-y", "--json", "-p", p)
    assert commissioner.exit_code == 0, commissioner.output
    assert json.loads(commissioner.stdout)["as"] == "commissioner"
    # the commissioner's sign-off is not quality assurance: a final pack still needs the assurer
    refused = cli("pack", "--final", "-p", p)
    assert refused.exit_code == 2 and "review sign-off" in flat(refused.stderr)
    assert cli("review", "--by", "A. Analyst", "--as", "analyst", "-y", "-p", p).exit_code == 0
    assert cli("review", "--by", "Q. Assurer", "-y", "-p", p).exit_code == 0
    built = cli("pack", "--final", "--json", "-p", p)
    assert built.exit_code == 0, built.output
    page = (Path(json.loads(built.stdout)["path"]) / "index.html").read_text()
    section = page[page.index('id="review"'):]
    for text in ("C. Commissioner", "Head of Service", "The question is the one the decision needs",
                 "A. Analyst", "the numbers reproduce from the data and the code", "Q. Assurer",
                 "The numbers have been checked"):
        assert text in section, text
    status = json.loads(cli("status", "--json", "-p", p).stdout)["review"]
    assert [r["as"] for r in status["roles"]] == ["commissioner", "analyst"]
    bad = cli("review", "--by", "X", "--as", "approver", "-y", "-p", p)
    assert bad.exit_code == 2 and "commissioner, analyst, assurer" in flat(bad.stderr)
    assert "Traceback" not in bad.output


def test_the_ethics_submission_is_filled_from_the_records_and_lists_its_gaps(cli, packable):
    p = str(packable.root)
    first = cli("ethics", "-p", p)
    assert first.exit_code == 0, first.output
    text = (packable.root / "ETHICS-SUBMISSION.md").read_text()
    for heading in ("Purpose and public benefit", "Data and lawful basis", "Risks and mitigations",
                    "Human oversight", "Retention", "Gaps"):
        assert heading in text
    assert "DSA-TEST-001" in text and "kept until 2099-12-31" in text  # from the agreement
    assert "Fairness plan" in text and "referrals: v1" in text  # the datasets, from expedition.yaml
    assert "Datasets —" not in flat(first.stderr + first.stdout)
    ethics = packable.root / "ETHICS.md"
    ethics.write_text(ethics.read_text().replace(
        "- [ ] Protected characteristics in the data, and how results will be checked across them:",
        "- [x] Protected characteristics in the data, and how results will be checked across them: "
        "sex and ethnicity; every rate is compared across them. Ring 07700 900123 with questions."))
    doc = json.loads(cli("ethics", "--json", "-p", p).stdout)
    assert {"question": "Impact assessments (DPIA)", "fix": "answer it in ETHICS.md"} in doc["gaps"]
    assert "Fairness plan" not in [g["question"] for g in doc["gaps"]]
    answers = {a["question"]: a["answer"] for s in doc["sections"] for a in s["answers"]}
    fairness = next(v for q, v in answers.items() if q.startswith("Fairness plan"))
    assert "sex and ethnicity" in fairness and "07700 900123" not in fairness  # redacted


def test_every_pack_has_a_datasheet_per_dataset_with_its_gaps_and_no_values(packable):
    from expedition.pack import verify_pack

    result = build_pack(packable, when=WHEN)
    sheet = (result.path / "datasheets" / "referrals.md").read_text()
    for section in ("Motivation", "Composition", "Collection process", "Preprocessing and cleaning",
                    "Uses", "Distribution", "Maintenance", "Gaps"):
        assert f"## {section}" in sheet
    assert "Example County Council" in sheet and "Until 2099-12-31 under agreement DSA-TEST-001" in sheet
    assert "by-district (eda)" in sheet  # what used it
    # the contract is missing and there is no description: said, not invented
    assert "Not answered: describe it in expedition.yaml" in sheet
    for value in ("Basildon", "Harlow", "Maldon"):
        assert value not in sheet
    page = (result.path / "index.html").read_text()
    assert 'href="datasheets/referrals.md"' in page
    assert verify_pack(result.path).ok


def test_every_pack_has_a_plain_english_public_summary(packable):
    from expedition.pack.public import reading_ease

    from expedition.pack.public import JARGON

    result = build_pack(packable, when=WHEN)
    text = (result.path / "public-summary.md").read_text()
    for heading in ("What we were asked", "What we found", "What it means", "The data we used",
                    "How we kept the data safe"):
        assert f"## {heading}" in text
    assert "Example County Council" in text and "31 December 2099" in text
    assert not JARGON.search(text.split("## What we found", 1)[1].split("## What it means")[0])
    assert reading_ease(text) >= 60
    page = (result.path / "index.html").read_text()
    assert 'id="public-summary"' in page and 'href="public-summary.md"' in page


@pytest.mark.parametrize("headline, plain", [
    ("Re-referral was higher in Harlow (32% against 21%, p < 0.001).", "Re-referral was higher in Harlow."),
    ("Arrests differed by ethnicity (chi-square 32.4, 3 df, p < 0.001).", "Arrests differed by ethnicity."),
    ("The model's AUC was 0.81.", None),
    ("Demand will rise by about 12 % next year (95 % CI 8 % to 16 %).", "Demand will rise by about 12 % next year."),
])
def test_headlines_lose_their_statistical_asides_or_are_left_out(headline, plain):
    from expedition.pack.public import plain_headline

    assert plain_headline(headline) == plain


def test_purge_reaches_links_and_what_reads_them(project, tmp_path):
    from expedition.governance import _downstream, _made_from

    for name in ("old", "new"):
        path = tmp_path / f"{name}.csv"
        path.write_text("id,given_name\n1,Ann\n2,Bob\n")
        add_dataset(project, path, name)
    update_config(project.config_path, lambda doc: doc.update({
        "links": {"people": {"datasets": ["old", "new"], "id": "id", "compare": {"given_name": "name"}}},
        "derived": {"linked_people": {"sql": "SELECT * FROM people"}},
    }))
    project = project.reload()
    assert _downstream(project, "old") == ["people", "linked_people"]
    links = project.state_dir / "links"
    links.mkdir(parents=True)
    for rel in ("people.json", "people-review.csv", "people-charts.html"):
        (links / rel).write_text("x")
    (project.root / "data" / "processed" / "people.parquet").write_text("x")
    made = {p.relative_to(project.root).as_posix() for p in _made_from(project, "old")}
    assert {".expedition/links/people.json", ".expedition/links/people-review.csv",
            "data/processed/people.parquet", "data/raw/old"} <= made
    assert not any("data/raw/new" in m for m in made)


@pytest.mark.parametrize("text, textstat", [
    # textstat 0.7.3's flesch_reading_ease of the same texts (computed once, kept here)
    ("The team looked at closed cases. Younger children came back more often. Small numbers are hidden.", 91.48),
    ("We were asked which closed cases come back within a year. Cases in Harlow came back more often than "
     "elsewhere. Only the team could see the data, and only on computers that the agreement allows. Numbers "
     "smaller than 10 are hidden.", 77.94),
])
def test_reading_ease_agrees_with_textstat(text, textstat):
    from expedition.pack.public import reading_ease

    assert reading_ease(text) == pytest.approx(textstat, abs=3)


def test_jargon_reads_as_hard():
    from expedition.pack.public import PLAIN_ENGLISH, reading_ease

    assert reading_ease("Multivariable logistic regression demonstrated statistically significant heterogeneity "
                        "in re-referral probability across administrative districts.") < 0 < PLAIN_ENGLISH

"""The attacker of issue 13 with a whole pack in hand: every built-in step on one dataset with
planted small groups, all their findings gated together, then attacked together.

The planted groups: a district of a handful of referrals, a referral source used a few times,
an ethnicity recorded for very few children, and a month with few referrals. No published
table, sentence or metric may show a count below the threshold, and the auditor
(`expedition.disclosure.system.audit`), holding every published number of every finding at
once, may pin no suppressed count and work out no small one.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from expedition.config import DisclosureConfig
from expedition.steps import StepContext, get_step
from expedition.testing import attack, publish

RULES = DisclosureConfig(min_count=10)

#: (step, parameters) run on the same referrals
STEPS = [
    ("eda", {"outcome": "rereferred_12m", "outcome_value": "yes"}),
    ("significance", {"group": "rereferred_12m", "group_value": "yes",
                      "variables": ["district", "referral_source", "ethnicity", "age", "prior_referrals"]}),
    ("benchmark", {"unit": "district", "outcome": "rereferred_12m", "outcome_value": "yes"}),
    ("segment", {"variables": ["age", "prior_referrals", "district", "referral_source"], "k_max": 4, "bootstrap": 3}),
    ("drivers", {"outcome": "rereferred_12m", "outcome_value": "yes",
                 "variables": ["age", "prior_referrals", "district", "referral_source"], "bootstrap": 10, "repeats": 2}),
    ("text", {"text": ["referral_note"], "outcome": "rereferred_12m", "outcome_value": "yes"}),
    ("risk", {"outcome": "rereferred_12m", "outcome_value": "yes", "date": "closure_date", "id_column": "referral_id",
              "protected": ["ethnicity", "sex"], "models": ["logistic"]}),
]


def planted(seed: int, tiny: int) -> pl.DataFrame:
    from expedition.examples.referrals import generate

    frame = generate(1500, seed=seed)
    # a tiny district, a rare referral source, a rare ethnicity, and a quiet month
    n = frame.height
    district = frame["district"].to_list()
    source = frame["referral_source"].to_list()
    ethnicity = frame["ethnicity"].to_list()
    when = frame["referral_date"].to_list()
    for i in range(tiny):
        district[i] = "Mersea"
        source[n - 1 - i] = "Coastguard"
    for i in range(max(1, tiny // 2)):
        ethnicity[100 + i] = "Not in any list"
        when[200 + i] = date(2019, 2, 14)
    return frame.with_columns(
        pl.Series("district", district), pl.Series("referral_source", source),
        pl.Series("ethnicity", ethnicity), pl.Series("referral_date", when, dtype=frame.schema["referral_date"]),
    )


def findings_of(frame: pl.DataFrame) -> list:
    out = []
    ctx = StepContext(seed=7, dataset="referrals", disclosure=RULES)
    for name, params in STEPS:
        step = get_step(name)
        keep = {k: v for k, v in params.items() if k in step.Params.model_fields}
        finding = step().run(frame.lazy(), step.parse_params(keep), ctx)
        out.append(finding.with_(id=name, population="referrals@planted"))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("seed, tiny", [(3, 1), (5, 4), (8, 9)])
def test_nothing_small_can_be_read_from_all_the_findings_together(seed, tiny):
    findings = findings_of(planted(seed, tiny))
    problems = attack(findings, RULES)
    assert problems == [], "\n".join(problems[:20])
    for finding in findings:
        words = " ".join(publish(finding, RULES).headlines)
        assert "Mersea" not in words and "Coastguard" not in words, finding.id  # never named in a finding

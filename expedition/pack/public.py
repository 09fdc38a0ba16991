"""The public summary: what was asked, what was found, what it means, what data were used and
how they were protected, in plain English for the people whose data it is.

Written into every pack as ``public-summary.md`` and as the first section of ``index.html``.
It is made from the findings' own headlines (after the disclosure gate), with the statistical
asides taken out ("(p < 0.001)", "(95 % CI 12 % to 18 %)"); a headline that still needs a
statistical word to make sense is left for the full findings rather than put in front of the
public. Short sentences and everyday words keep it readable (Flesch reading ease 60 or above is
checked in the tests on the demo and on real packs).
"""

from __future__ import annotations

import re
from typing import Any

from expedition.project import Project

#: words a member of the public should not need: a headline that keeps one after its asides are
#: removed is not used in the public summary
JARGON = re.compile(
    r"\b(p[- ]?values?|p\s*[<=>]|confidence intervals?|CI\b|statistically|significan\w*|regression|"
    r"coefficients?|odds ratios?|AUC|ROC|chi[- ]?square\w*|Mann[- ]Whitney|Kruskal|rank[- ]biserial|"
    r"Cram[eé]r|MASE|MAPE|silhouette|standard errors?|std\.? error|logistic|SHAP|Gini|calibrat\w*|"
    r"heterosced\w*|autocorrelat\w*|Poisson|Getis|Gi\*|k-means|permutation|quantiles?|"
    r"interquartile|IQR|variance|deviance|likelihood|Bonferroni|Holm|Benjamini|FDR|"
    r"[αβχ]|\bz\s*=|\bt\s*=|\bF\s*=|\bn\s*=)",
    re.IGNORECASE,
)
#: a parenthetical holding a number or a statistical word: "(p < 0.001)", "(95% CI 1.2 to 3.4)"
ASIDE = re.compile(r"\s*[(\[][^()\[\]]*(?:\d|%|CI|p\s*[<=>])[^()\[\]]*[)\]]")

MAX_FOUND = 5
#: the public summary should read at Flesch reading ease 60 or above ("plain English")
PLAIN_ENGLISH = 60.0


def reading_ease(text: str) -> float:
    """Flesch reading ease of *text*: 206.835 - 1.015 x words per sentence - 84.6 x syllables
    per word (Flesch, 1948), counting syllables by pyphen's English hyphenation, as textstat 0.7
    does. (Written here rather than taken from textstat: its later releases download NLTK's
    pronouncing dictionary on first use, which fails offline, and 0.7 needs setuptools'
    retired pkg_resources.) Markdown markers are ignored; a "sentence" of two words or fewer
    (a heading, a list label) is not counted as one, as textstat does."""
    import pyphen

    plain = re.sub(r"[#*_`>|]", " ", text)
    words = re.findall(r"[A-Za-z0-9][A-Za-z0-9'’-]*", plain)
    if not words:
        return 0.0
    sentences = [s for s in re.findall(r"\b[^.!?\n]+[.!?]*", plain) if len(s.split()) > 2]
    dic = pyphen.Pyphen(lang="en_US")
    syllables = sum(max(1, dic.inserted(w.lower()).count("-") + 1) for w in words)
    return 206.835 - 1.015 * len(words) / max(1, len(sentences)) - 84.6 * syllables / len(words)


def plain_headline(text: str) -> str | None:
    """*text* without its statistical asides, or None when it still needs a statistical word."""
    cleaned = ASIDE.sub("", text).strip()
    cleaned = re.sub(r"\s+([,.;:])", r"\1", re.sub(r"\s{2,}", " ", cleaned))
    if not cleaned or JARGON.search(cleaned) or len(cleaned.split()) > 40:
        return None
    return cleaned if cleaned.endswith((".", "!", "?")) else cleaned + "."


def public_summary(project: Project, headlines: list[list[str]], quality: list[Any], rules_min_count: int,
                   model_cards: int = 0) -> str:
    """The public summary as Markdown (see the module docstring), from each finding's headlines
    as the page words them (the partner's labels, numbers for people)."""
    from expedition.numbers import humane_text
    config = project.config
    info = config.expedition
    lines = [f"# {info.title}: a summary for the public", ""]
    lines += ["## What we were asked", ""]
    asked = info.question.strip() if info.question else ""
    who = ", ".join(info.partners) if info.partners else "the organisations we work with"
    lines.append(f"{who} asked us: “{asked}”" if asked else f"{who} asked us to look at their records.")
    lines += ["", "## What we found", ""]
    found: list[str] = []
    for said in headlines:
        for headline in said:
            plain = plain_headline(humane_text(str(headline)))
            if plain and plain not in found:
                found.append(plain)
                break
        if len(found) >= MAX_FOUND:
            break
    if found:
        lines += [f"- {f}" for f in found]
        left = len(headlines) - len(found)
        if left > 0:
            lines += ["", f"The full report has {left} more finding{'s' if left != 1 else ''}, with the details."]
    else:
        lines.append("The results need some technical terms to explain, so they are in the full report that "
                     "follows.")
    lines += ["", "## What it means", "",
              "These findings show patterns in past records. They do not prove that one thing causes "
              "another. They are not used to make a decision about any one person."]
    if model_cards:
        lines.append("Where a tool was built to help staff decide where to look first, a person still makes "
                     "every decision, and the tool's limits are written down in the full report.")
    lines += ["", "## The data we used", ""]
    by_name = {q.name: q for q in quality}
    for name, ds in config.datasets.items():
        if not ds.deliveries:
            continue
        # short sentences: a long description, its source and its size in one would be hard to read
        what = ds.description.strip().rstrip(".") if ds.description else f"Records called “{name}”"
        parts = [what + "."]
        if ds.agreement:
            parts.append(f"It came from {ds.agreement.provider}.")
        q = by_name.get(name)
        if q is not None and q.rows is not None:
            parts.append(f"It holds {q.show(q.rows)} records.")
        lines.append("- " + " ".join(parts))
    lines += ["", "## How we kept the data safe", "",
              "Only the team could see the data, and only on computers that the data-sharing agreement "
              "allows.",
              f"Nothing in this report can pick out a person. Numbers smaller than {rules_min_count} are "
              "hidden. Names, addresses and other personal details are never shown."]
    dates = sorted({ds.agreement.retain_until for ds in config.datasets.values()
                    if ds.agreement is not None and ds.deliveries})
    if dates:
        lines.append(f"The data will be deleted by {dates[-1].day} {dates[-1]:%B %Y}.")
    lines += ["", "A person who checks the work signs it off before the final report is shared.", ""]
    return "\n".join(lines)

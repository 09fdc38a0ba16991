"""A glossary for the findings pack: each statistical term explained where a reader first meets it.

`Glossary.link` (the template's ``gloss`` filter) links the first use of each term on the page
to its entry; the page's Glossary section lists the terms used, in order of first use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markupsafe import Markup, escape

#: (slug, term, pattern, plain-English meaning)
TERMS: list[tuple[str, str, str, str]] = [
    ("p-value", "p-value", r"\b(?:adjusted )?p(?: ≥| <| =|-values?)",
     "How surprising the difference would be if there were really none: p < 0.05 is the usual bar "
     "for 'unlikely to be chance alone'. It says nothing about how large or important a difference is."),
    ("ci", "95% confidence interval (CI)", r"\b95% (?:CI|confidence intervals?)\b",
     "The range of values the data are consistent with; if the study were repeated many times, 95 in "
     "100 such ranges would hold the true value."),
    ("holm", "Holm's method", r"\bHolm(?:'s method|-adjusted)?\b",
     "An adjustment of p-values when many comparisons are made at once, so that a few chance "
     "differences are not mistaken for real ones."),
    ("bh", "Benjamini–Hochberg", r"\bBenjamini[–-]Hochberg\b|\bfalse discovery rate\b",
     "An adjustment for many comparisons that keeps the expected share of false alarms among the "
     "flagged results (the false discovery rate) below a limit."),
    ("auc", "AUC", r"\b(?:ROC )?AUC\b",
     "How well a score ranks those with the outcome above those without: 0.5 is guessing, 1 is "
     "perfect; 0.7–0.8 is usually called acceptable."),
    ("rank-biserial", "rank-biserial r", r"\brank-biserial r\b",
     "An effect size for a Mann–Whitney test: the difference between the chance that a value in one "
     "group is higher than one in the other and the reverse (0 is none, ±1 is complete separation)."),
    ("hedges-g", "Hedges' g", r"\bHedges' g\b",
     "The difference between two group means in standard deviations (0.2 small, 0.5 medium, 0.8 large)."),
    ("cramers-v", "Cramér's V", r"\bCramér's V\b",
     "The strength of association between two categories, from 0 (none) to 1 (complete)."),
    ("mann-whitney", "Mann–Whitney U test", r"\bMann[–-]Whitney\b",
     "Compares two groups' values by their ranks, without assuming a bell-shaped distribution."),
    ("welch", "Welch t-test", r"\bWelch t-test\b",
     "Compares the means of two groups without assuming they vary equally."),
    ("chi-square", "chi-square test", r"\bchi-square\b",
     "Tests whether the shares in categories differ between groups more than chance would allow."),
    ("z-test", "two-proportion z-test", r"\btwo-proportion z-test\b",
     "Tests whether two groups' shares differ more than chance would allow."),
    ("spearman", "Spearman's rho", r"\bSpearman(?:'s rho)?\b",
     "A correlation of ranks, from -1 (one falls as the other rises) to 1 (both rise together)."),
    ("odds", "odds ratio", r"\b(?:odds ratios?|times the odds)\b",
     "How many times the odds of the outcome are multiplied; 1 means no difference."),
    ("silhouette", "silhouette width", r"\bsilhouette(?: width)?\b",
     "How well each record sits in its own segment rather than the nearest other, from -1 to 1; "
     "above 0.25 suggests real structure, above 0.5 clear segments."),
    ("rand", "adjusted Rand index", r"\badjusted Rand index\b",
     "How alike two groupings of the same records are (1 identical, 0 no better than chance): here, "
     "the segments found again on resampled data."),
    ("k-means", "k-means", r"\bk-means\b",
     "A method that splits records into k groups whose members are close to the group's centre."),
    ("mase", "MASE", r"\bMASE\b",
     "Mean absolute scaled error: a forecast's typical error relative to simply repeating last "
     "season's value; below 1 beats that simple forecast."),
    ("prediction-interval", "prediction interval", r"\bprediction intervals?\b",
     "The range a future value is expected to fall in with the stated probability."),
    ("calibration", "calibration", r"\bcalibrat(?:ion|ed)\b",
     "Whether predicted risks match what happens: of the records given 20%, about 20% should have the outcome."),
    ("precision", "precision", r"\bprecision\b",
     "Of the records flagged, the share that had the outcome."),
    ("recall", "recall", r"\b(?:recall|true-positive rate)\b",
     "Of the records with the outcome, the share that were flagged (also called the true-positive rate)."),
    ("percentage-points", "percentage points", r"\bpercentage points?\b",
     "The plain difference between two percentages: from 20% to 25% is 5 percentage points (a 25% rise)."),
    ("control-limits", "control limits", r"\b(?:control )?limits\b|\bfunnel plot\b",
     "The range a unit's rate would fall in by chance alone, given its size; a unit outside it differs "
     "more than chance explains (the 99.8% limits leave about 1 in 500 outside by chance)."),
    ("over-dispersion", "over-dispersion", r"\bover-dispersion\b",
     "More variation between units than chance alone explains, so the limits are widened."),
    ("gi-star", "Getis–Ord Gi*", r"\bGi\*|\bGetis[–-]Ord\b|\bhot spots?\b",
     "A hot spot test: whether a place and its neighbours together hold more (or fewer) events than "
     "expected if events were spread evenly."),
    ("tf-idf", "TF-IDF", r"\bTF-IDF\b",
     "A weight for a word that is high when it is frequent in a document but rare across documents."),
    ("permutation-importance", "permutation importance", r"\bshuffling it\b|\bpermutation importance\b",
     "How much worse a model predicts when a variable's values are shuffled: the more it worsens, the "
     "more the model relies on that variable."),
    ("standard-deviation", "standard deviation", r"\bstandard deviations?\b",
     "The typical distance of values from their mean."),
]

def _escaped(pattern: str) -> str:
    """A pattern written for text, made to match the same text HTML-escaped."""
    return pattern.replace("'", "(?:'|&#39;)").replace(" <", " &lt;")


_COMPILED = [(slug, term, re.compile(_escaped(pattern)), meaning) for slug, term, pattern, meaning in TERMS]


@dataclass
class Glossary:
    used: list[tuple[str, str, str]] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def link(self, text: str) -> Markup:
        """*text*, escaped, with the first use on the page of each term linked to its entry
        (never inside a tag or another link)."""
        html = str(escape(text))
        for slug, term, pattern, meaning in _COMPILED:
            if slug in self._seen:
                continue
            parts = _TAG.split(html)
            inside = False
            for i, part in enumerate(parts):
                if part.startswith("<"):
                    inside = part.startswith("<a") or (inside and not part.startswith("</a"))
                    continue
                match = None if inside else pattern.search(part)
                if match is None:
                    continue
                self._seen.add(slug)
                self.used.append((slug, term, meaning))
                a, b = match.span()
                parts[i] = f'{part[:a]}<a class="term" href="#glossary-{slug}">{part[a:b]}</a>{part[b:]}'
                html = "".join(parts)
                break
        return Markup(html)


_TAG = re.compile(r"(<[^>]+>)")

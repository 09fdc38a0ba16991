"""The `linkage` step: how good a record linkage (`expedition link`) is, for the findings pack."""

from __future__ import annotations

from typing import Any

from expedition.errors import StepError
from expedition.finding import Count, Finding, Keys, Table, Value, say
from expedition.steps import Step, StepContext, StepParams

#: p-value below which the unlinked shares of a characteristic's groups are said to differ.
BIAS_P = 0.05


class LinkageParams(StepParams):
    """The linkage step has no parameters: it reads a linked dataset (``dataset: NAME`` of a
    link under ``links:``) and the model's summary that `expedition link` recorded."""


class Linkage(Step):
    """Linkage quality of a dataset made by `expedition link`: records and people (clusters),
    cluster sizes, the distribution of pairs' match weights, each comparison's m and u
    parameters (Fellegi–Sunter, estimated by Splink: u by random sampling, m by
    expectation-maximisation), the precision and recall the model expects at the threshold,
    the precision measured by a clerical review (`expedition link review NAME`) with a 95%
    Wilson interval, and linkage bias: the share of records left unlinked by each protected
    characteristic of the linked datasets' contracts, with a chi-square test and a caveat when
    the shares differ. Only counts and parameters are published, never a record's values.
    """

    name = "linkage"
    summary = "Linkage quality of `expedition link`: people found, match weights, m/u, precision, recall, bias."
    version = "1"
    Params = LinkageParams
    outputs = {
        "records": "records and people per dataset",
        "cluster_sizes": "people by the number of records linked to them",
        "match_weights": "scored pairs by match weight (model-based)",
        "parameters": "m and u probabilities and match weight of each comparison level",
        "quality": "expected precision and recall; measured precision with its interval",
        "unlinked_by_group": "records left unlinked by protected characteristic",
    }

    @classmethod
    def example(cls) -> tuple[Any, dict[str, Any]]:
        import polars as pl

        rows = []
        for i in range(300):
            person = f"P{i // 2 if i < 200 else i:06d}"
            rows.append({"dataset": "a" if i % 2 == 0 else "b", "record_id": f"r{i}", "person_id": person,
                         "match_probability": 0.99 if i < 200 else 0.2})
        return pl.DataFrame(rows).lazy(), {}

    def run(self, frame: Any, params: LinkageParams, ctx: StepContext) -> Finding:
        import polars as pl

        data = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
        missing = [c for c in ("dataset", "person_id") if c not in data.columns]
        if missing:
            raise StepError(f"the data have no {', '.join(missing)} column: the linkage step reads a "
                            "dataset made by `expedition link`",
                            "set the step's dataset to a link declared under 'links:'")
        if data.height == 0:
            raise StepError("the linked dataset has no records", "check the datasets it links")
        quality: dict[str, Any] = dict(getattr(ctx, "link", None) or {})
        sizes = data.group_by("person_id").agg(pl.len().alias("n"), pl.col("dataset").n_unique().alias("k"))
        people = sizes.height
        across = int((sizes["k"] > 1).sum())
        linked = data.join(sizes, on="person_id").with_columns((pl.col("n") > 1).alias("linked"))
        per = linked.group_by("dataset", maintain_order=True).agg(
            pl.len().alias("records"), pl.col("linked").sum().cast(pl.Int64).alias("linked_records"),
            ).sort("dataset")
        tables: dict[str, Table] = {
            "records": Table(per, {"dataset": "label", "records": "count", "linked_records": "count"},
                             title="Records and people per dataset",
                             description="linked records: linked to at least one other record",
                             keys=Keys(counts={"records": {}, "linked_records": {"linked": "yes"}},
                                       variables={"dataset": "dataset"})),
        }
        bands = sizes.with_columns(pl.when(pl.col("n") >= 4).then(pl.lit("4 or more"))
                                   .otherwise(pl.col("n").cast(pl.Utf8)).alias("records_per_person"))
        by_size = bands.group_by("records_per_person").agg(pl.len().alias("people")).sort("records_per_person")
        tables["cluster_sizes"] = Table(by_size, {"records_per_person": "label", "people": "count"},
                                        title="People by the number of records linked to them",
                                        keys=Keys(population="people", counts={"people": {}},
                                                  variables={"records_per_person": "records_per_person"}))
        headlines = [say("{n} records were linked into {p} people; {x} of them appear in more than one dataset.",
                         n=Count(data.height), p=Count(people, population="people"),
                         x=Count(across, where={"datasets": "more than one"}, population="people"))]
        caveats = []
        metrics: dict[str, Any] = {"records": Count(data.height), "people": Count(people, population="people")}
        if quality:
            headlines += self._model(quality, tables, metrics, caveats)
            caveats += self._bias(quality, tables)
        else:
            caveats.append("The linkage model's summary was not available, so its parameters, expected "
                           "precision and recall are not shown.")
        caveats.append("Expected precision and recall come from the model's own match probabilities, which "
                       "assume its parameters are right and leave out true matches that no blocking rule "
                       "brought together; a clerical review measures precision directly.")
        return Finding(step=self.name, title="How well the records were linked", headlines=headlines,
                       tables=tables, metrics=metrics, caveats=caveats)

    def _model(self, quality: dict[str, Any], tables: dict[str, Table], metrics: dict[str, Any],
               caveats: list[Any]) -> list[Any]:
        import polars as pl

        threshold = quality.get("threshold")
        weights = pl.DataFrame(quality.get("weight_distribution") or [],
                               schema={"weight": pl.Utf8, "pairs": pl.Int64, "above_threshold": pl.Boolean})
        if weights.height:
            weights = weights.with_columns(pl.when(pl.col("above_threshold")).then(pl.lit("yes"))
                                           .otherwise(pl.lit("no or partly")).alias("above_threshold"))
            tables["match_weights"] = Table(
                weights, {"weight": "label", "pairs": "count", "above_threshold": "label"},
                title="Scored pairs by match weight",
                description=f"match weight = log2 of the Bayes factor; pairs link at probability {threshold}",
                keys=Keys(population="pairs", counts={"pairs": {}}, variables={"weight": "weight",
                                                                              "above_threshold": None}))
        parameters = pl.DataFrame(quality.get("parameters") or [],
                                  schema={"comparison": pl.Utf8, "kind": pl.Utf8, "level": pl.Utf8,
                                          "m": pl.Float64, "u": pl.Float64, "match_weight": pl.Float64})
        if parameters.height:
            tables["parameters"] = Table(parameters, {"comparison": "label", "kind": "label", "level": "label",
                                                      "m": "statistic", "u": "statistic",
                                                      "match_weight": "statistic"},
                                         title="m and u probabilities of each comparison level",
                                         dimensions=["level"])
        rows = []
        out = []
        ep, er = quality.get("expected_precision"), quality.get("expected_recall")
        if ep is not None and er is not None:
            rows += [("expected precision (model)", ep), ("expected recall (model)", er)]
            metrics.update(expected_precision=ep, expected_recall=er)
            out.append(say("At match probability {t}, the model expects a precision of {p} and a recall of {r}.",
                           t=Value(threshold, ".2f"), p=Value(ep, ".1%"), r=Value(er, ".1%")))
        review = quality.get("review")
        if review and review.get("labelled"):
            low, high = review["interval"]
            rows += [("measured precision (clerical review)", review["precision"]),
                     ("measured precision: 95% interval, low", low), ("measured precision: 95% interval, high", high)]
            metrics["measured_precision"] = review["precision"]
            out.append(say("A clerical review of {n} linked pairs measured a precision of {p} "
                           "(95% interval {lo} to {hi}).", n=Value(review["labelled"], "d"),
                           p=Value(review["precision"], ".1%"), lo=Value(low, ".1%"), hi=Value(high, ".1%")))
        else:
            caveats.append("No clerical review has been recorded: `expedition link review NAME` writes pairs "
                           "to label and then measures precision.")
        if rows:
            tables["quality"] = Table(pl.DataFrame(rows, schema={"measure": pl.Utf8, "value": pl.Float64},
                                                   orient="row"),
                                      {"measure": "label", "value": "statistic"}, title="Linkage quality")
        for note in quality.get("notes") or []:
            caveats.append(note[0].upper() + note[1:] + ".")
        return out

    def _bias(self, quality: dict[str, Any], tables: dict[str, Table]) -> list[Any]:
        import polars as pl
        from scipy import stats

        rows, caveats = [], []
        for item in quality.get("bias") or []:
            groups = item.get("groups") or []
            for g in groups:
                rows.append({"characteristic": item["characteristic"], "group": str(g["value"]),
                             "records": int(g["records"]), "unlinked": int(g["unlinked"])})
            table = [[int(g["unlinked"]), int(g["records"]) - int(g["unlinked"])] for g in groups
                     if int(g["records"]) > 0]
            if len(table) >= 2 and all(sum(r) for r in zip(*table)):
                p = float(stats.chi2_contingency(table)[1])
                if p < BIAS_P:
                    caveats.append(f"The share of records left unlinked differs by {item['characteristic']} "
                                   f"(chi-square p = {p:.2g}; see the table of unlinked records by group): "
                                   "analyses of linked records may under-represent the groups linked less often.")
        if rows:
            frame = pl.DataFrame(rows).with_columns((pl.col("unlinked") / pl.col("records")).alias("share_unlinked"))
            tables["unlinked_by_group"] = Table(
                frame, {"characteristic": "label", "group": "label", "records": "count", "unlinked": "count",
                        "share_unlinked": "rate"},
                title="Records left unlinked by protected characteristic",
                denominators={"share_unlinked": ["records", "unlinked"]},
                keys=Keys(pairs=("characteristic", "group"), counts={"records": {}, "unlinked": {"linked": "no"}}))
        return caveats

"""The counts of a whole pack as one system of linear equations, and the auditor that attacks it.

Every published count is a *key*: a population and the conditions its records meet (see
`expedition.finding.Keys`). A table's blocks imply equations: along each dimension its cells add
up to a total, which is the key without that dimension's condition (or, when the block has no
"missing" row, the key with the variable recorded); ``count(K, V recorded) + count(K, V missing)
= count(K)`` links the two. Cells of tables without keys, and count columns the keys leave out,
get keys of their own table only, so their equations hold within the table.

A reader knows every published key's value (within half the rounding base when counts are
rounded) and that no count is negative. `audit` works out, with linear programmes (HiGHS, through highspy;
tests check it against SciPy's linprog), the interval each unpublished key can lie in, and reports

* a suppressed key whose interval is narrower than the threshold (it is pinned), and
* any other unpublished key (a total or difference no table shows) that is worked out to less
  than the threshold and more than zero (a small count given away by subtraction).

The same code checks a pack before it is written (`expedition.disclosure`, with the values the
gate hid) and after (`expedition pack verify`, from the pack's files alone).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from expedition.finding import RECORDED, Keys

#: A key: (population, sorted conditions as (variable, value) pairs).
Key = tuple[str, tuple[tuple[str, Any], ...]]

MEASURE = "__measure__"


def norm_value(value: Any) -> Any:
    """A condition value as a key holds it: None (missing), RECORDED, or text."""
    if value is None or value == RECORDED:
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def make_key(population: str, conditions: dict[str, Any] | Iterable[tuple[str, Any]]) -> Key:
    items = conditions.items() if isinstance(conditions, dict) else conditions
    merged: dict[str, Any] = {}
    for var, value in items:
        merged[str(var)] = norm_value(value)
    return (population, tuple(sorted(merged.items(), key=lambda kv: kv[0])))


def describe_key(key: Key) -> str:
    population, conditions = key
    parts = [f"{v}={'(missing)' if x is None else x}" for v, x in conditions if v != MEASURE]
    return ", ".join(parts) or "all records"


@dataclass
class TableView:
    """One table as the system sees it (from the gate's frames or from a pack's CSV files)."""

    where: str
    population: str
    kinds: dict[str, str]
    labels: dict[str, list[Any]]
    counts: dict[str, list[float | None]]
    hidden: dict[str, list[bool]]
    keys: Keys | None
    dims: list[str]

    @property
    def height(self) -> int:
        for values in self.counts.values():
            return len(values)
        for values in self.labels.values():
            return len(values)
        return 0

    def variables(self) -> dict[str, str]:
        """Label columns that are conditions, and the variable each holds."""
        pair_cols = set(self.keys.pairs or ()) if self.keys else set()
        if self.keys is not None and self.keys.subject:
            pair_cols.add(self.keys.subject)
        out = {}
        for column in self.labels:
            if column in pair_cols:
                continue
            if self.keys is not None and column in self.keys.variables:
                var = self.keys.variables[column]
                if var is None:
                    continue
                out[column] = var
            else:
                out[column] = column
        return out

    def conditions(self, row: int) -> dict[str, Any]:
        cond = {var: self.labels[col][row] for col, var in self.variables().items()}
        if self.keys is not None and self.keys.pairs:
            name_col, value_col = self.keys.pairs
            cond[str(self.labels[name_col][row])] = self.labels[value_col][row]
        return cond

    def cell_key(self, column: str, row: int) -> Key:
        if self.keys is None or column not in self.keys.counts:
            # a count linked to nothing outside its table: every label tells its rows apart
            cond = {c: values[row] for c, values in self.labels.items()}
            cond[MEASURE] = f"{self.where}:{column}"
            population = self.population + (f"/{self.keys.population}" if self.keys and self.keys.population else "")
            return make_key(population, cond)
        cond = self.conditions(row)
        if self.keys is not None and column in self.keys.counts:
            own = dict(self.keys.counts[column])
            if "@" in own and self.keys.subject:
                own[str(self.labels[self.keys.subject][row])] = own.pop("@")
            cond.update(own)
            population = self.population + (f"/{self.keys.population}" if self.keys.population else "")
        else:
            cond[MEASURE] = f"{self.where}:{column}"
            population = self.population + (f"/{self.keys.population}" if self.keys and self.keys.population else "")
        return make_key(population, cond)

    def dim_variable(self, dim: str, row: int) -> str | None:
        """The variable a dimension column holds at *row* (None if it is no condition)."""
        if self.keys is not None and self.keys.pairs and dim == self.keys.pairs[1]:
            return str(self.labels[self.keys.pairs[0]][row])
        return self.variables().get(dim)


@dataclass
class Equation:
    """sum(parts) = total, all keys."""

    parts: tuple[Key, ...]
    total: Key
    where: str = ""


def equations(view: TableView) -> list[Equation]:
    """The totals a table implies: along each dimension of each block, its cells add up."""
    out: list[Equation] = []
    dims = [d for d in view.dims if d in view.labels]
    if not dims:
        return out
    others = [c for c in view.labels if c not in dims and not (view.keys and view.keys.pairs and c == view.keys.pairs[0])]
    pair_name = view.keys.pairs[0] if view.keys and view.keys.pairs else None
    group_cols = others + ([pair_name] if pair_name and pair_name not in dims else [])
    for column in view.counts:
        groups: dict[tuple, list[int]] = {}
        for row in range(view.height):
            groups.setdefault(tuple(view.labels[c][row] for c in group_cols), []).append(row)
        for rows in groups.values():
            for d in dims:
                lines: dict[tuple, list[int]] = {}
                for row in rows:
                    lines.setdefault(tuple(view.labels[o][row] for o in dims if o != d), []).append(row)
                for line in lines.values():
                    eq = _line_equation(view, column, line, [d])
                    if eq is not None:
                        out.append(eq)
            if len(dims) == 2:
                eq = _line_equation(view, column, rows, dims)
                if eq is not None:
                    out.append(eq)
    return out


def _line_equation(view: TableView, column: str, rows: list[int], dims: list[str]) -> Equation | None:
    if len(rows) < 1:
        return None
    parts = tuple(view.cell_key(column, r) for r in rows)
    if len(set(parts)) != len(parts):
        return None  # repeated keys: the rows are not distinct categories
    population, conditions = parts[0]
    total = dict(conditions)
    local = view.keys is None or column not in view.keys.counts
    for d in dims:
        var = d if local else view.dim_variable(d, rows[0])
        if var is None:
            return None
        values = {norm_value(view.labels[d][r]) for r in rows}
        if None in values:
            total.pop(var, None)
        else:
            total[var] = RECORDED
    if MEASURE in total and len(rows) == 1:
        return None
    total_key = make_key(population, total)
    if total_key in parts:
        return None
    return Equation(parts, total_key, view.where)


def recorded_identities(keys: Iterable[Key]) -> list[Equation]:
    """count(K, V recorded) + count(K, V missing) = count(K) wherever two of the three are keys."""
    known = set(keys)
    out = []
    for key in known:
        population, conditions = key
        for var, value in conditions:
            if value is not RECORDED and value != RECORDED:
                continue
            rest = tuple((v, x) for v, x in conditions if v != var)
            missing = make_key(population, [*rest, (var, None)])
            whole = (population, rest)
            if sum(k in known for k in (missing, whole)) >= 1:
                out.append(Equation((key, missing), whole, "recorded and missing"))
    return out


# --------------------------------------------------------------------------- the auditor


@dataclass
class Exposure:
    """A count a reader can work out more closely than the rules allow."""

    key: Key
    low: float
    high: float
    suppressed: bool
    where: list[str] = field(default_factory=list)

    def describe(self, min_count: int) -> str:
        """What is exposed and where, never the value itself (a report may be shared)."""
        places = f" (in {', '.join(sorted(set(self.where))[:3])})" if self.where else ""
        if self.suppressed:
            how = ("exactly" if self.high - self.low < 1e-6
                   else f"to within a range narrower than the threshold of {min_count}")
            return (f"a suppressed count ({describe_key(self.key)}){places} can be worked out {how} "
                    "from the published numbers")
        return (f"an unpublished count ({describe_key(self.key)}){places} can be worked out from the "
                f"published numbers to be below the threshold of {min_count}")


@dataclass
class System:
    """Keys, their published values (a value, or a (low, high) interval) and the equations."""

    published: dict[Key, tuple[float, float]] = field(default_factory=dict)
    hidden: set[Key] = field(default_factory=set)
    equations: list[Equation] = field(default_factory=list)
    places: dict[Key, list[str]] = field(default_factory=dict)

    def publish(self, key: Key, value: float, where: str, round_to: int | None = None) -> None:
        half = (round_to / 2) if round_to else 0.0
        low, high = max(value - half, 0.0), value + half
        old = self.published.get(key)
        if old is not None:
            low, high = max(low, old[0]), min(high, old[1])
            if low > high:  # two exact publications disagree: keep the first, the rest is a bug elsewhere
                low, high = old
        self.published[key] = (low, high)
        self.places.setdefault(key, []).append(where)

    def hide(self, key: Key, where: str) -> None:
        self.hidden.add(key)
        self.places.setdefault(key, []).append(where)

    def add_view(self, view: TableView, round_to: int | None = None) -> None:
        for column, values in view.counts.items():
            mask = view.hidden.get(column) or [False] * len(values)
            for row, value in enumerate(values):
                key = view.cell_key(column, row)
                if mask[row]:
                    self.hide(key, view.where)
                elif value is not None and math.isfinite(value):
                    self.publish(key, float(value), view.where, round_to)
        self.equations.extend(equations(view))

    def close(self) -> None:
        """Add the recorded/missing identities and drop duplicate equations."""
        keys = set(self.published) | self.hidden
        for eq in self.equations:
            keys.update(eq.parts)
            keys.add(eq.total)
        self.equations.extend(recorded_identities(keys))
        seen = set()
        unique = []
        for eq in self.equations:
            signature = (frozenset(eq.parts), eq.total)
            if signature not in seen:
                seen.add(signature)
                unique.append(eq)
        self.equations = unique


def audit(
    system: System,
    min_count: int,
    *,
    zeros_disclosive: bool = False,
    truth: dict[Key, float] | None = None,
) -> list[Exposure]:
    """Every suppressed key a reader can pin to within less than *min_count*, and every other
    unpublished key worked out to a small number. *truth* (the gate's own values) lets the gate
    skip the LPs for unpublished keys it knows are large."""
    system.close()
    parent: dict[Key, Key] = {}

    def find(k: Key) -> Key:
        root = k
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(k, k) != root:
            parent[k], k = root, parent[k]
        return root

    for eq in system.equations:
        keys = [*eq.parts, eq.total]
        for k in keys:
            parent.setdefault(k, k)
        for k in keys[1:]:
            a, b = find(keys[0]), find(k)
            if a != b:
                parent[b] = a
    components: dict[Key, list[Equation]] = {}
    for eq in system.equations:
        components.setdefault(find(eq.total), []).append(eq)
    exposures: list[Exposure] = []
    for eqs in components.values():
        keys = sorted({k for eq in eqs for k in (*eq.parts, eq.total)}, key=repr)
        targets = []
        for k in keys:
            if k in system.published and k not in system.hidden:
                continue
            if k not in system.hidden and truth is not None:
                v = truth.get(k)
                if v is not None and v >= min_count and not (zeros_disclosive and v == 0):
                    continue  # an unpublished total the gate knows is large: nothing to give away
            targets.append(k)
        if not targets:
            continue
        if len(eqs) == 1:
            exposures += _expose_line(eqs[0], system, targets, min_count, zeros_disclosive)
        else:
            exposures += _expose(keys, eqs, system, targets, min_count, zeros_disclosive)
    return exposures


def _expose_line(
    eq: Equation, system: System, targets: list[Key], min_count: int, zeros: bool
) -> list[Exposure]:
    """A component of one equation, solved without a programme: its unknowns are non-negative
    and add up to what the known terms leave, so each lies anywhere from 0 to that remainder
    (exactly the remainder when it is the only unknown)."""
    def known(k: Key) -> tuple[float, float] | None:
        return system.published[k] if k in system.published and k not in system.hidden else None

    parts = [k for k in eq.parts]
    total = known(eq.total)
    unknown_parts = [k for k in parts if known(k) is None]
    low_sum = sum(known(k)[0] for k in parts if known(k) is not None)  # type: ignore[index]
    high_sum = sum(known(k)[1] for k in parts if known(k) is not None)  # type: ignore[index]
    out = []
    for k in targets:
        if k == eq.total:
            if unknown_parts:
                low, high = low_sum, math.inf
            else:
                low, high = low_sum, high_sum
        elif total is None:
            low, high = 0.0, math.inf  # the total is unknown too: nothing bounds this part
        else:
            rest_low, rest_high = max(total[0] - high_sum, 0.0), max(total[1] - low_sum, 0.0)
            low, high = (rest_low, rest_high) if len(unknown_parts) == 1 else (0.0, rest_high)
        if _exposed(low, high, k in system.hidden, min_count, zeros):
            out.append(Exposure(k, low, high, k in system.hidden, system.places.get(k, [])))
    return out


def _exposed(low: float, high: float, hidden: bool, min_count: int, zeros: bool) -> bool:
    if hidden:
        return high - low < min_count - 1e-6
    return high < min_count - 1e-9 and (low > 1e-9 or (zeros and high < 1e-9))


def _expose(
    keys: Sequence[Key],
    eqs: list[Equation],
    system: System,
    targets: list[Key],
    min_count: int,
    zeros: bool,
) -> list[Exposure]:
    """The exposed targets of one component, with as few linear programmes as it takes.

    Every solution a programme finds is a filling of the hidden counts a reader cannot rule out,
    so the range of values each count takes over the solutions found so far is a range the
    reader cannot narrow. A target whose range is already wide enough (a suppressed count that
    has moved by the threshold; an unpublished one seen at zero or above the threshold) is safe
    without programmes of its own: after two programmes that push all the targets up and down
    at once, most are. The rest get their own minimum and maximum.
    """
    import numpy as np
    from scipy.sparse import coo_matrix

    index = {k: i for i, k in enumerate(keys)}
    rows, cols, vals = [], [], []
    for r, eq in enumerate(eqs):
        for k in eq.parts:
            rows.append(r)
            cols.append(index[k])
            vals.append(1.0)
        rows.append(r)
        cols.append(index[eq.total])
        vals.append(-1.0)
    a_eq = coo_matrix((vals, (rows, cols)), shape=(len(eqs), len(keys))).tocsr()
    b_eq = np.zeros(len(eqs))
    lower = np.zeros(len(keys))
    upper = np.full(len(keys), np.inf)
    for k, i in index.items():
        if k in system.published and k not in system.hidden:
            lower[i], upper[i] = system.published[k]
    programme = _Programme(a_eq, b_eq, lower, upper)
    seen_low = np.full(len(keys), np.inf)
    seen_high = np.full(len(keys), -np.inf)

    def solve(c: Any) -> Any:
        result = programme.solve(c)
        if result.status == 0:
            np.minimum(seen_low, result.x, out=seen_low)
            np.maximum(seen_high, result.x, out=seen_high)
        return result

    def safe(k: Key) -> bool:
        i = index[k]
        if k in system.hidden:
            return seen_high[i] - seen_low[i] >= min_count - 1e-6
        if seen_high[i] >= min_count - 1e-9:
            return True
        return seen_low[i] <= 1e-9 and (not zeros or seen_high[i] > 1e-9)

    everything = np.zeros(len(keys))
    for k in targets:
        everything[index[k]] = 1.0
    # all targets up, all down, then in random opposite directions (cells that trade against
    # each other on a cycle or in a line move apart); the seed only decides how fast, not what
    signs = np.where(np.random.default_rng(len(keys)).random(len(keys)) < 0.5, -1.0, 1.0) * everything
    for c in (everything, -everything, signs, -signs):
        if solve(c).status == 2:
            return []  # infeasible: published numbers disagree (rounding); nothing can be concluded
        if all(safe(k) for k in targets):
            return []
    out = []
    for k in targets:
        if safe(k):
            continue

        c = np.zeros(len(keys))
        c[index[k]] = 1.0
        low, high = solve(c), solve(-c)
        if low.status == 2 or high.status == 2:
            continue
        lo = float(low.fun) if low.status == 0 else 0.0
        hi = float(-high.fun) if high.status == 0 else math.inf
        if _exposed(lo, hi, k in system.hidden, min_count, zeros):
            out.append(Exposure(k, lo, hi, k in system.hidden, system.places.get(k, [])))
    return out


@dataclass
class _Result:
    status: int  # as scipy's linprog: 0 solved, 2 infeasible, 3 unbounded
    fun: float = 0.0
    x: Any = None


class _Programme:
    """One component's constraints, loaded into HiGHS once and solved for objective after
    objective: each solve starts from the last one's basis, so the hundreds of minimum and maximum
    problems an audit asks of one component cost little more than the first (scipy's `linprog`
    builds and presolves the model again for each, about 5 ms apiece)."""

    def __init__(self, a_eq: Any, b_eq: Any, lower: Any, upper: Any) -> None:
        import highspy
        import numpy as np

        self._status = highspy.HighsModelStatus
        csc = a_eq.tocsc()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = csc.shape[1], csc.shape[0]
        lp.col_cost_ = np.zeros(lp.num_col_)
        lp.col_lower_ = np.asarray(lower, dtype=float)
        lp.col_upper_ = np.where(np.isinf(upper), highspy.kHighsInf, upper).astype(float)
        lp.row_lower_ = np.asarray(b_eq, dtype=float)
        lp.row_upper_ = np.asarray(b_eq, dtype=float)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
        lp.a_matrix_.index_ = csc.indices.astype(np.int32)
        lp.a_matrix_.value_ = csc.data.astype(float)
        try:  # the bare binding: highspy.Highs() prints HiGHS's banner to stdout when made
            from highspy._core import _Highs as make
        except ImportError:  # pragma: no cover - a highspy without it prints the banner once
            make = highspy.Highs
        self._highs = make()
        self._highs.setOptionValue("output_flag", False)
        self._highs.passModel(lp)
        self._columns = np.arange(lp.num_col_, dtype=np.int32)
        self._a_eq, self._b_eq, self._bounds = a_eq, b_eq, np.column_stack([lower, upper])
        s = self._status
        self._settled = {s.kOptimal, s.kInfeasible, s.kUnbounded, s.kUnboundedOrInfeasible}

    def solve(self, c: Any) -> _Result:
        import numpy as np

        h, status = self._highs, self._status
        h.changeColsCost(len(self._columns), self._columns, np.asarray(c, dtype=float))
        h.run()
        got = h.getModelStatus()
        if got not in self._settled:  # a warm start that lost its way (seen on unbounded ones): start afresh
            h.clearSolver()
            h.run()
            got = h.getModelStatus()
        if got == status.kOptimal:
            return _Result(0, float(h.getInfo().objective_function_value), np.array(h.getSolution().col_value))
        if got == status.kInfeasible:
            return _Result(2)
        if got == status.kUnbounded:
            return _Result(3)
        if got == status.kUnboundedOrInfeasible:  # tell the two apart with a zero objective
            h.changeColsCost(len(self._columns), self._columns, np.zeros(len(self._columns)))
            h.run()
            return _Result(3 if h.getModelStatus() == status.kOptimal else 2)
        from scipy.optimize import linprog  # HiGHS through scipy, from scratch, as the last word

        result = linprog(c, A_eq=self._a_eq, b_eq=self._b_eq, bounds=self._bounds, method="highs")
        if result.status not in (0, 2, 3):
            raise RuntimeError(f"the disclosure auditor's linear programme failed ({result.message})")
        return _Result(result.status, float(result.fun) if result.status == 0 else 0.0, result.x)

"""The auditor's linear programmes (HiGHS through highspy, one model per component, solved
objective after objective) give the same minimum and maximum of every hidden count as scipy's
`linprog` solving each from scratch, on random systems of tables that share their counts."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from expedition.disclosure.system import Equation, System, audit


def reference(system: System, key) -> tuple[float, float]:
    """The range of *key* over everything published, by scipy from scratch."""
    keys = sorted({k for eq in system.equations for k in (*eq.parts, eq.total)}, key=repr)
    index = {k: i for i, k in enumerate(keys)}
    rows, cols, vals = [], [], []
    for r, eq in enumerate(system.equations):
        for k in eq.parts:
            rows.append(r), cols.append(index[k]), vals.append(1.0)
        rows.append(r), cols.append(index[eq.total]), vals.append(-1.0)
    a = coo_matrix((vals, (rows, cols)), shape=(len(system.equations), len(keys)))
    bounds = [system.published[k] if k in system.published and k not in system.hidden else (0, None) for k in keys]
    c = np.zeros(len(keys))
    c[index[key]] = 1.0
    low = linprog(c, A_eq=a, b_eq=np.zeros(a.shape[0]), bounds=bounds, method="highs")
    high = linprog(-c, A_eq=a, b_eq=np.zeros(a.shape[0]), bounds=bounds, method="highs")
    return float(low.fun), (math.inf if high.status == 3 else float(-high.fun))


def key(*conditions):
    return ("p", tuple(conditions))


@settings(max_examples=60, deadline=None)
@given(
    cells=st.lists(st.lists(st.integers(0, 40), min_size=2, max_size=4), min_size=2, max_size=4),
    hide=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=5),
    publish_totals=st.booleans(),
)
def test_the_auditor_finds_what_scipy_finds(cells, hide, publish_totals):
    width = min(len(r) for r in cells)
    grid = [r[:width] for r in cells]
    system = System()
    hidden = {(i % len(grid), j % width) for i, j in hide}
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            k = key(("a", str(i)), ("b", str(j)))
            (system.hide(k, "t") if (i, j) in hidden else system.publish(k, float(v), "t"))
    for i, row in enumerate(grid):  # row totals, column totals and the grand total
        system.equations.append(Equation(tuple(key(("a", str(i)), ("b", str(j))) for j in range(width)),
                                         key(("a", str(i)))))
        if publish_totals:
            system.publish(key(("a", str(i))), float(sum(row)), "totals")
    for j in range(width):
        system.equations.append(Equation(tuple(key(("a", str(i)), ("b", str(j))) for i in range(len(grid))),
                                         key(("b", str(j)))))
    system.equations.append(Equation(tuple(key(("a", str(i))) for i in range(len(grid))), key()))
    system.publish(key(), float(sum(map(sum, grid))), "headline")

    found = {e.key: (e.low, e.high) for e in audit(system, 10)}
    for i, j in hidden:
        k = key(("a", str(i)), ("b", str(j)))
        low, high = reference(system, k)
        exposed = high - low < 10 - 1e-6
        assert (k in found) == exposed, (k, low, high, found.get(k))
        if exposed:
            assert found[k] == (low, high) or np.allclose(found[k], (low, high))

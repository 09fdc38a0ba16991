"""Secondary cell suppression for one-way and two-way tables whose totals are known.

Why this is written here: no maintained Python library does cell suppression. tau-ARGUS (the
statistical offices' tool) is a Java/C++ desktop program and sdcTable is R; ACRO, the Python
output checker, only recomputes totals from the published cells after suppressing. What a
library *does* do well, solving linear programmes, is used from SciPy (HiGHS) to audit the
harder cases.

The model. Cells hold non-negative numbers. A reader knows every published cell, every total
along each dimension (a one-way table's total; a two-way table's row, column and grand totals)
and that hidden cells are not negative. From that the reader can bound each hidden cell: its
feasibility interval ``[lo, hi]``. A sensitive ("primary") cell of value ``a`` with protection
``Need(upper=U, lower=L)`` is protected when ``hi >= a + U`` and ``lo <= a - L``.

* One-way: with two or more hidden cells summing to ``S``, each can be anything in ``[0, S]``
  (the others absorb the rest), so a line is protected when it has at least two hidden cells
  and ``S >= a + U`` for each of its primary cells. Cells are added smallest first (the
  smallest that covers what is missing, else the largest), zeros only as a last resort.
* Two-way: hidden cells on a cycle (a rectangle ``(i, j), (i, l), (k, l), (k, j)``, or a longer
  one) let a reader move ``+t, -t, +t, ...`` around it without changing any total, so the
  primary cell ``a`` is only known to within the smallest of the cells that move against it
  (upwards) and with it (downwards); hiding more cells only widens that. For each primary
  cell we hide the cycle that costs least (the sum of the newly hidden values, then the fewest
  new cells), found by Dijkstra's algorithm on the table's row/column graph. Every hidden cell
  then lies on a cycle that moves it, so none can be worked out exactly. When no single cycle
  gives full protection, a linear programme says how much hiding the whole table would give,
  and the cheapest cycle reaching that is hidden (or, failing that, the whole table).

What is not modelled: a reader's outside knowledge beyond non-negativity (for example that a
hidden cell is a primary one and so below the threshold), and totals across the groups that
split a table (tables of three or more dimensions are protected as a series of two-way tables).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Need:
    """How far a reader's bounds on a primary cell must reach above and below its value."""

    upper: float
    lower: float


def _val(values: Sequence[float | None], cell: int) -> float:
    value = values[cell]
    return 0.0 if value is None else float(value)


def protect_line(
    cells: Sequence[int],
    values: Sequence[float | None],
    primary: dict[int, Need],
    hidden: set[int],
) -> tuple[set[int], bool]:
    """Secondary cells for one line whose total is known; and whether protection is complete.

    ``values[cell]`` is None for a cell hidden earlier whose value is unknown (counted as 0).
    ``hidden`` holds the cells hidden so far (primary ones included); it is not changed.
    """
    prim = [c for c in cells if c in primary]
    if not prim:
        return set(), True
    held = {c for c in cells if c in hidden or c in primary}
    need = max(_val(values, p) + primary[p].upper for p in prim)
    added: set[int] = set()
    while True:
        total = sum(_val(values, c) for c in held)
        if len(held) >= 2 and total >= need - 1e-9:
            return added, True
        candidates = [c for c in cells if c not in held]
        if not candidates:
            return added, False
        positive = sorted((c for c in candidates if _val(values, c) > 0), key=lambda c: (_val(values, c), c))
        deficit = need - total
        if positive:
            if deficit <= 0:
                pick = positive[0]
            else:
                covering = [c for c in positive if _val(values, c) >= deficit]
                pick = covering[0] if covering else positive[-1]
        elif len(held) < 2:
            pick = min(candidates)  # a zero: it adds no room, but the cell is no longer exact
        else:
            return added, False
        held.add(pick)
        added.add(pick)


def protect_grid(
    grid: dict[tuple[Hashable, Hashable], int],
    values: Sequence[float | None],
    primary: dict[int, Need],
    hidden: set[int],
) -> tuple[set[int], bool]:
    """Secondary cells for a two-way table with known row, column and grand totals.

    ``grid`` maps (row key, column key) to a cell; combinations that are absent are known
    zeros. Returns the cells to hide besides ``hidden``, and whether every primary cell got
    its full protection (False when the totals themselves do not allow it; the cell then gets
    as much as hiding the whole table would give).
    """
    cells = list(grid.values())
    prim = sorted(c for c in cells if c in primary)
    if not prim:
        return set(), True
    held = {c for c in cells if c in hidden or c in primary}
    start = set(held)
    unresolved = []
    for p in prim:
        path = _cheapest_cycle(grid, values, held, p, primary[p])
        if path is None:
            unresolved.append(p)
        else:
            held.update(path)
    if not unresolved:
        return held - start, True

    # No single cycle gives the full protection. Ask what hiding everything would give (a
    # linear programme), settle for that, and look for the cheapest cycle that achieves it.
    everything = set(cells)
    if any(values[c] is None for c in cells):
        return everything - start, False
    best = intervals(grid_lines(grid), [float(v) for v in values], everything, targets=unresolved)  # type: ignore[arg-type]
    complete = True
    banded: list[tuple[int, Need]] = []
    for p in unresolved:
        value, need = _val(values, p), primary[p]
        lo, hi = best[p]
        up, down = max(min(need.upper, hi - value), 0.0), max(min(need.lower, value - lo), 0.0)
        if up < need.upper - 1e-9 or down < need.lower - 1e-9:
            complete = False
        if up <= 1e-9 and down <= 1e-9:
            # The totals alone give this cell away (hiding every cell would not help), so
            # hiding more would only lose information; the caller logs a warning.
            continue
        path = _cheapest_cycle(grid, values, held, p, Need(up, down))
        if path is None:
            banded.append((p, Need(up, down)))
        else:
            held.update(path)
    if banded:
        # protection needs several cycles at once (a row of small cells whose total is small):
        # hide the cell's row or column with the matching cells of a large line to balance it,
        # and check with the programmes; only if that fails does the whole table go
        lines = grid_lines(grid)
        for p, need in banded:
            held.update(_band(grid, values, held, p))
        got = intervals(lines, [float(v) for v in values], held)  # type: ignore[arg-type]
        for p, need in banded:
            lo, hi = got[p]
            value = _val(values, p)
            if hi - value < need.upper - 1e-9 or value - lo < need.lower - 1e-9:
                return everything - start, complete
        # a band cell the totals still pin (a zero in a corner) is published: hiding it protects nothing
        held -= {c for c, (lo, hi) in got.items() if hi - lo <= 1e-9 and c not in primary and c not in start}
    return held - start, complete


def _band(grid: dict[tuple[Hashable, Hashable], int], values: Sequence[float | None], held: set[int], p: int) -> set[int]:
    """The cheaper of two bands through *p*: its whole row with the same columns of the row
    best able to balance it (the largest smallest cell there), or the same by column."""
    where = {cell: key for key, cell in grid.items()}
    i, j = where[p]
    options = []
    for axis in (0, 1):
        line = {key: cell for key, cell in grid.items() if key[axis] == (i, j)[axis]}
        across = [key[1 - axis] for key, cell in line.items() if cell == p or cell in held or _val(values, cell) > 0]
        partners: dict[Hashable, list[int]] = {}
        for key, cell in grid.items():
            if key[axis] != (i, j)[axis] and key[1 - axis] in across:
                partners.setdefault(key[axis], []).append(cell)
        best = None
        for other, cells in partners.items():
            if len(cells) != len(across):
                continue
            floor = min(_val(values, c) for c in cells)
            cost = sum(_val(values, c) for c in cells if c not in held)
            if best is None or (floor, -cost) > (best[0], -best[1]):
                best = (floor, cost, cells)
        if best is None:
            continue
        band = set(line.values()) | set(best[2])
        options.append((sum(_val(values, c) for c in band - held), len(band - held), band))
    if not options:
        return set(grid.values())
    return min(options, key=lambda o: (o[0], o[1]))[2]


def _cheapest_cycle(
    grid: dict[tuple[Hashable, Hashable], int],
    values: Sequence[float | None],
    held: set[int],
    p: int,
    need: Need,
) -> list[int] | None:
    """The cells to hide, at least cost, to put *p* on a cycle that gives it *need*.

    Rows and columns are the nodes of a bipartite graph and cells its edges. Moving ``+t`` on
    *p* moves ``-t``, ``+t``, ... around a cycle through it; the cycle is a path from *p*'s
    column back to its row, whose column-to-row cells go down as *p* goes up (each must hold
    at least ``need.upper``) and whose row-to-column cells go up (each must hold at least
    ``need.lower`` for *p* to go down). Dijkstra finds the path that hides the least value,
    then the fewest new cells; a cell already hidden costs nothing.
    """
    import heapq

    where = {cell: key for key, cell in grid.items()}
    i, j = where[p]
    if _val(values, p) < need.lower:
        return None
    by_row: dict[Hashable, list[tuple[Hashable, int]]] = {}
    by_col: dict[Hashable, list[tuple[Hashable, int]]] = {}
    for (r, c), cell in grid.items():
        if cell != p:
            by_row.setdefault(r, []).append((c, cell))
            by_col.setdefault(c, []).append((r, cell))
    order = {key: n for n, key in enumerate(dict.fromkeys([*(("r", r) for r, _ in grid), *(("c", c) for _, c in grid)]))}
    start, goal = ("c", j), ("r", i)
    best: dict[tuple, tuple[float, int]] = {start: (0.0, 0)}
    back: dict[tuple, tuple[tuple, int]] = {}
    queue: list[tuple[float, int, int, tuple]] = [(0.0, 0, order[start], start)]
    while queue:
        cost, count, _, node = heapq.heappop(queue)
        if (cost, count) > best.get(node, (math.inf, 0)):
            continue
        if node == goal:
            path = []
            while node != start:
                node, cell = back[node]
                path.append(cell)
            return path
        side, key = node
        steps = by_col.get(key, []) if side == "c" else by_row.get(key, [])
        floor = need.upper if side == "c" else need.lower
        for other, cell in steps:
            if _val(values, cell) < floor or (floor > 0 and values[cell] is None):
                continue
            nxt = ("r", other) if side == "c" else ("c", other)
            extra = 0.0 if cell in held else _val(values, cell)
            candidate = (cost + extra, count + (cell not in held))
            if candidate < best.get(nxt, (math.inf, 0)):
                best[nxt] = candidate
                back[nxt] = (node, cell)
                heapq.heappush(queue, (candidate[0], candidate[1], order[nxt], nxt))
    return None


def grid_lines(grid: dict[tuple[Hashable, Hashable], int]) -> list[list[int]]:
    """The lines of a two-way table whose totals are known: rows, columns and the grand total."""
    rows: dict[Hashable, list[int]] = {}
    cols: dict[Hashable, list[int]] = {}
    for (r, c), cell in grid.items():
        rows.setdefault(r, []).append(cell)
        cols.setdefault(c, []).append(cell)
    return [*rows.values(), *cols.values(), list(grid.values())]


def _protected(
    lines: list[list[int]],
    values: Sequence[float | None],
    primary: dict[int, Need],
    held: set[int],
) -> bool:
    bounds = intervals(lines, [float(v) for v in values], held)  # type: ignore[arg-type]
    for cell, (lo, hi) in bounds.items():
        if hi - lo <= 1e-9:
            return False
        if cell in primary:
            value, need = float(values[cell]), primary[cell]  # type: ignore[arg-type]
            if hi < value + need.upper - 1e-9 or lo > value - need.lower + 1e-9:
                return False
    return True


def intervals(
    lines: list[list[int]],
    values: Sequence[float],
    hidden: set[int],
    targets: Sequence[int] | None = None,
) -> dict[int, tuple[float, float]]:
    """What a reader can work out: the feasibility interval of each hidden cell.

    *lines* are the sets of cells whose totals are known. Each interval is the minimum and
    maximum of the cell over every non-negative filling of the hidden cells that agrees with
    the published cells and the totals (two linear programmes per cell, solved by HiGHS).
    *targets* limits the cells bounded (default: every hidden cell).
    """
    import numpy as np
    from scipy.optimize import linprog

    order = sorted(hidden)
    if not order:
        return {}
    index = {cell: n for n, cell in enumerate(order)}
    rows, rhs = [], []
    for line in lines:
        coeffs = np.zeros(len(order))
        known = 0.0
        for cell in line:
            if cell in index:
                coeffs[index[cell]] = 1.0
            else:
                known += float(values[cell])
        if coeffs.any():
            rows.append(coeffs)
            rhs.append(sum(float(values[c]) for c in line) - known)
    a_eq = np.array(rows) if rows else None
    b_eq = np.array(rhs) if rows else None
    out = {}
    for cell in order if targets is None else sorted(set(targets) & set(order)):
        objective = np.zeros(len(order))
        objective[index[cell]] = 1.0
        low = linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
        high = linprog(-objective, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
        lo = low.fun if low.status == 0 else 0.0
        hi = -high.fun if high.status == 0 else math.inf
        out[cell] = (float(lo), float(hi))
    return out

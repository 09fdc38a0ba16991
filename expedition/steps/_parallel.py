"""How many threads the steps' model fitting may use.

scikit-learn parallelises k-means and gradient boosting with OpenMP. On a machine whose cores are
already busy (a shared analysis server, or several steps at once) OpenMP's spinning threads make
these fits many times slower than one thread does, so the steps use one OpenMP thread unless
``EXPEDITION_THREADS`` asks for more. ``bench/bench_steps.py`` measures the difference.
"""

from __future__ import annotations

import os
from contextlib import contextmanager


def openmp_threads() -> int:
    """Threads for OpenMP (``EXPEDITION_THREADS``, default 1)."""
    try:
        return max(1, int(os.environ.get("EXPEDITION_THREADS", "1")))
    except ValueError:
        return 1


@contextmanager
def fitting_threads():
    """Hold OpenMP (used by scikit-learn's k-means and boosting) to `openmp_threads()`."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=openmp_threads(), user_api="openmp"):
        yield

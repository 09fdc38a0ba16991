"""Run the expedition CLI on a slow disk that can kill it between two renames: the kill tests'
subject.

    python tests/_slowfs.py DELAY DIE_AFTER_JOURNAL expedition-arguments...

Every ``os.rename``/``os.replace`` the command makes is held back DELAY seconds, as a slow or
busy disk would hold it. With DIE_AFTER_JOURNAL = N >= 0 the process sends itself SIGKILL
instead of making the N-th rename after the one that puts a commit's journal in place (N = 0:
the journal's own rename, so the commit never happened; N = 1: the journal is in place and no
output was renamed yet; ...). A negative N never kills. A real SIGKILL: no ``finally`` block,
no exception handler and no exit hook of the command runs.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def main() -> None:
    delay, die_after, *args = sys.argv[1:]
    pause, target = float(delay), int(die_after)
    real_rename, real_replace = os.rename, os.replace
    state = {"journal": False, "after": 0}

    def slow(real):
        def wrapper(src, dst, *rest, **kwargs):
            is_journal = os.sep + "journal" + os.sep in os.fspath(dst)
            if target >= 0:
                if is_journal and not state["journal"]:
                    state["journal"] = True
                    if target == 0:
                        os.kill(os.getpid(), signal.SIGKILL)
                elif state["journal"]:
                    state["after"] += 1
                    if state["after"] == target:
                        os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(pause)
            return real(src, dst, *rest, **kwargs)

        return wrapper

    os.rename, os.replace = slow(real_rename), slow(real_replace)
    sys.argv = ["expedition", *args]
    from expedition.cli import main as cli

    cli()


if __name__ == "__main__":
    main()

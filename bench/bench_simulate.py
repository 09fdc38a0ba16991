"""`simulate` at scale: a year of 50,000 cases through 5 stages, 10 replications, with peak memory.

    python bench/bench_simulate.py [--cases 50000] [--replications 10] [--repeat 1]

The model: cases arrive at 50,000 a year (137 a day) at the first of five stages; from each stage
a share moves on to the next (80%, 60%, 70%, 50%) and the rest leave; every stage has
exponential service and enough servers for about 85–90% utilisation. Three rows, each a fresh
process:

* **ciw, one replication** — the same network written directly in ciw (create_network,
  Simulation, simulate_until_max_time, get_all_records): the baseline;
* **simulate step** — the step on the same model with 10 replications (summaries, intervals,
  the over-time table), in memory;
* **simulate step, published** — the same, then through the disclosure gate with its charts
  drawn, as `expedition run` does.

The step does ten times the simulation of the baseline, so about 10× is the floor; what is
above it is the step's own work. Absolute times vary on a shared machine; compare the ratios
printed by one run. Run it under the machine-wide lock:
``flock /work/bench.lock python bench/bench_simulate.py``.

Measured on 4 December 2026 (2 shared cores, other work running; servers 78, 250, 225, 53, 105):

    what                                          median s  x baseline  peak MiB
    ciw directly, one replication                   22.483        1.00       113
    simulate step, 10 replications                 206.833        9.20       293
    simulate step, 10 replications, published      227.407       10.11       342

20.7 s a replication in the step against 22.5 s for one run of the bare ciw script (which also
pays for starting Python and importing ciw): the time is ciw's, whose per-event cost grows with
the number of servers at a stage; the step's summaries, intervals and weekly table add little.
Replications run one after another in one process (they could be spread over processes).
"""

from __future__ import annotations

import argparse
import json
import sys

from _measure import measure, report

SHARES = [0.8, 0.6, 0.7, 0.5]
MEANS = [0.5, 2.0, 3.0, 1.0, 4.0]  # days of service per stage


def model(cases: int) -> dict:
    """The step's parameters for the benchmark model."""
    import math

    rate = cases / 365
    flows = [rate]
    for share in SHARES:
        flows.append(flows[-1] * share)
    stages = []
    for i, (flow, mean) in enumerate(zip(flows, MEANS)):
        servers = max(1, math.ceil(flow * mean / 0.88))
        stage = {"name": f"stage{i + 1}", "servers": servers,
                 "service_days": {"distribution": "exponential", "mean": mean}}
        if i < len(SHARES):
            stage["next"] = {f"stage{i + 2}": SHARES[i]}
        stages.append(stage)
    return {"arrivals": {"per_day": rate}, "stages": stages, "days": 365, "warmup_days": 0}


CIW = """
import ciw, json, sys
params = json.loads(sys.argv[1])
stages = params["stages"]
names = [s["name"] for s in stages]
routing = [[s.get("next", {}).get(n, 0.0) for n in names] for s in stages]
N = ciw.create_network(
    arrival_distributions=[ciw.dists.Exponential(rate=params["arrivals"]["per_day"])] + [None] * (len(stages) - 1),
    service_distributions=[ciw.dists.Exponential(rate=1 / s["service_days"]["mean"]) for s in stages],
    routing=routing,
    number_of_servers=[s["servers"] for s in stages],
)
ciw.seed(1)
Q = ciw.Simulation(N)
Q.simulate_until_max_time(params["days"])
records = Q.get_all_records()
print(len(records))
"""

STEP = """
import json, sys
import polars as pl
from expedition.steps import StepContext
from expedition.steps.simulate import Simulate
params = json.loads(sys.argv[1])
publish = sys.argv[2] == "publish"
finding = Simulate().run(pl.DataFrame({"x": [1]}).lazy(), Simulate.parse_params(params), StepContext(seed=1))
if publish:
    from expedition.testing import publish as gate
    finding = gate(finding)
print(finding.tables["stages"].frame)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=50_000, help="cases arriving in the year")
    parser.add_argument("--replications", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    params = model(args.cases)
    step_params = {**params, "replications": args.replications}
    servers = ", ".join(str(s["servers"]) for s in params["stages"])
    print(f"{args.cases:,} cases a year through 5 stages (servers {servers}), {args.replications} replications")
    one = measure("ciw directly, one replication", [sys.executable, "-c", CIW, json.dumps(params)], args.repeat)
    step = measure(f"simulate step, {args.replications} replications",
                   [sys.executable, "-c", STEP, json.dumps(step_params), "run"], args.repeat)
    published = measure(f"simulate step, {args.replications} replications, published",
                        [sys.executable, "-c", STEP, json.dumps(step_params), "publish"], args.repeat)
    report("simulate against one replication in ciw", [one, step, published], one)
    print(f"\nper replication: {step.median / args.replications:.2f} s in the step against "
          f"{one.median:.2f} s in ciw directly ({step.median / args.replications / one.median:.2f}×)")


if __name__ == "__main__":
    main()

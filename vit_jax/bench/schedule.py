"""The order in which the benchmark's cases run, and the time budget that may end it early.

Cases run precision first, then mode, then model, each list in the order given on the command
line: with `--dtype bfloat16,float32 --mode train,infer`, every model's bfloat16 training step
comes first, so a budget that runs out drops the cases wanted least. With a budget, a case starts
only if the longest case so far would still end within it (one device call of a lent GPU machine
has a fixed limit, and a run killed at the limit prints no table); the cases left are named. A
case that fails (out of memory at a batch too large, say) is named with its error in one line and
the others still run.
"""

import argparse
import contextlib
import os
import time
from collections.abc import Callable, Iterator, Sequence

from vit_jax.bench.cases import run_case
from vit_jax.bench.loop_case import run_loop_case
from vit_jax.bench.table import case_line
from vit_jax.common.errors import describe


def planned_cases(
    *, models: Sequence[str], modes: Sequence[str], dtypes: Sequence[str]
) -> list[tuple[str, str, str]]:
    """(model, mode, dtype) of every case, in the order they run."""
    return [(model, mode, dtype) for dtype in dtypes for mode in modes for model in models]


class Budget:
    """Seconds for the whole run, counted from construction (None or 0: no limit)."""

    def __init__(self, *, seconds: float | None, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.start = clock()
        self.longest = 0.0

    def allows_case(self) -> bool:
        """Whether a case as long as the longest so far would end within the budget."""
        if not self.seconds:
            return True
        return self.clock() - self.start + self.longest <= self.seconds

    @contextlib.contextmanager
    def case(self) -> Iterator[None]:
        """Times one case, for the next `allows_case`."""
        begin = self.clock()
        yield
        self.longest = max(self.longest, self.clock() - begin)


def run_cases(
    *, args: argparse.Namespace, budget: Budget, peaks: Callable[[], dict]
) -> tuple[list[dict], list[str]]:
    """Runs the planned cases within `budget`, printing a line per case; (results, failures).
    `peaks` gives the matmul peaks measured so far. With --debug a failure propagates."""
    cases, failed = [], []
    plan = planned_cases(models=args.models, modes=args.modes, dtypes=args.dtypes)
    for name, mode, dtype in plan:
        if not budget.allows_case():
            print(f"{name} {mode} {dtype}: not run, it would end past --time_budget", flush=True)
            continue
        case_args = argparse.Namespace(**{**vars(args), "dtype": dtype})
        with budget.case():
            try:
                if mode == "loop":
                    case = run_loop_case(name=name, args=case_args, peaks=peaks())
                else:
                    case = run_case(name=name, mode=mode, args=case_args, peaks=peaks())
            except Exception as error:  # one failed case ends no other
                if args.debug:
                    raise
                failed.append(f"{name} {mode} {dtype}: {describe(error).splitlines()[0]}")
                print(f"{failed[-1]} (failed)", flush=True)
                continue
        case["loadavg"] = list(os.getloadavg())
        cases.append(case)
        print(case_line(case), flush=True)
    return cases, failed

"""The measurement maths of a chaos run: pure functions over what the load generator saw.

Times are seconds since the load started. A scenario's fault *starts* at `fault_at` and
is *lifted* at `lifted_at` (the same moment for a kill: what comes back is up to the
supervisor or Docker; a netem fault is cleared by us after its duration).

- failed: every request that did not get a 2xx or a 409 (sold out: answered, just no
  order), timeouts and refused connections included, over the whole run.
- first success: from the fault to the first success of a request *sent* after it —
  a request sent earlier may have been answered before the fault hit.
- back within 10%: throughput in buckets of `bucket_s`, on a grid starting where the
  fault was lifted; the baseline is the mean of the full buckets between warm-up and
  the fault. Throughput is back at the start of the first bucket from which `hold`
  consecutive buckets each reach 90% of the baseline — one lucky bucket is not recovery.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TOLERANCE = 0.10
HOLD_BUCKETS = 2


@dataclass(frozen=True, slots=True)
class Sample:
    """One request: when it was sent and answered (s since the start), and whether it worked."""

    sent: float
    done: float
    ok: bool


@dataclass(frozen=True, slots=True)
class Recovery:
    requests: int
    failed: int
    first_success_s: float | None
    """None: no request sent after the fault succeeded within the run."""
    baseline_rps: float
    back_within_10pct_s: float | None
    """From the fault's lift; None: not back within the run."""

    @property
    def failed_pct(self) -> float:
        return 100.0 * self.failed / self.requests if self.requests else 0.0


def first_success_after(samples: list[Sample], fault_at: float) -> float | None:
    done = [s.done for s in samples if s.ok and s.sent >= fault_at]
    return min(done) - fault_at if done else None


def rate_per_bucket(
    samples: list[Sample], start: float, end: float, bucket_s: float
) -> list[float]:
    """Successes per second in each full bucket of [start, end)."""
    count = max(0, math.floor((end - start) / bucket_s + 1e-9))
    buckets = [0] * count
    for s in samples:
        if s.ok and start <= s.done < start + count * bucket_s:
            buckets[int((s.done - start) / bucket_s)] += 1
    return [b / bucket_s for b in buckets]


def baseline(samples: list[Sample], warmup_s: float, fault_at: float, bucket_s: float) -> float:
    rates = rate_per_bucket(samples, warmup_s, fault_at, bucket_s)
    return sum(rates) / len(rates) if rates else 0.0


def back_within(
    rates: list[float], target: float, bucket_s: float, hold: int = HOLD_BUCKETS
) -> float | None:
    """Seconds from the grid's start to the first of `hold` buckets all >= `target`."""
    for i in range(len(rates) - hold + 1):
        if all(r >= target for r in rates[i : i + hold]):
            return i * bucket_s
    return None


def recovery(
    samples: list[Sample],
    *,
    fault_at: float,
    lifted_at: float,
    end: float,
    warmup_s: float = 1.0,
    bucket_s: float = 1.0,
) -> Recovery:
    base = baseline(samples, warmup_s, fault_at, bucket_s)
    after = rate_per_bucket(samples, lifted_at, end, bucket_s)
    back = back_within(after, (1 - TOLERANCE) * base, bucket_s) if base > 0 else None
    return Recovery(
        requests=len(samples),
        failed=sum(not s.ok for s in samples),
        first_success_s=first_success_after(samples, fault_at),
        baseline_rps=base,
        back_within_10pct_s=back,
    )


def timeline(
    samples: list[Sample], end: float, bucket_s: float
) -> tuple[list[float], list[float], list[float]]:
    """(bucket starts, successes/s, failures/s) over [0, end): for the chart."""
    count = max(1, math.ceil(end / bucket_s))
    ok, bad = [0] * count, [0] * count
    for s in samples:
        i = min(count - 1, max(0, int(s.done / bucket_s)))
        (ok if s.ok else bad)[i] += 1
    return (
        [i * bucket_s for i in range(count)],
        [n / bucket_s for n in ok],
        [n / bucket_s for n in bad],
    )

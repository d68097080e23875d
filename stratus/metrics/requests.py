"""How long the head node's APIs take to answer: ``stratus_api_request_duration_seconds``.

:class:`RequestTimes` is handed (as its :meth:`~RequestTimes.observe`) to the head node's HTTP
applications, which call it once per answered request with the API's name (``slurm``,
``pcluster``, ``batch``, ``console``, ``batch-endpoint`` ...) and the seconds it took, from the
request's start to the answer's last byte; the metrics collector turns what it recorded into a
Prometheus histogram. It keeps counts only (a few numbers per API), never requests.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from prometheus_client.core import HistogramMetricFamily, Metric

#: The histogram's upper bounds in seconds (Prometheus's default buckets, which suit an API).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


class RequestTimes:
    """Per API: how many requests fell in each bucket, and the sum of their durations."""

    def __init__(self) -> None:
        self._counts: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}

    def observe(self, api: str, seconds: float) -> None:
        counts = self._counts.setdefault(api, [0] * (len(BUCKETS) + 1))
        counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self._sums[api] = self._sums.get(api, 0.0) + seconds

    def families(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(
            "stratus_api_request_duration_seconds",
            "Time the head node's APIs took to answer, from the request to the answer's end",
            labels=["api"],
        )
        for api in sorted(self._counts):
            cumulative, buckets = 0, []
            for bound, count in zip((*BUCKETS, float("inf")), self._counts[api], strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(cumulative)))
            family.add_metric([api], buckets, self._sums[api])
        yield family

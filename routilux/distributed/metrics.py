"""A small Prometheus metrics registry and its text exposition (format 0.0.4).

Workers and the console both expose metrics; a worker should not need an extra
package for that, so this is a few dozen lines of our own instead of
``prometheus_client``. Counters, gauges and histograms with labels; updates are
one dict lookup and an addition under a lock, cheap enough for the step path.
"""

from __future__ import annotations

import bisect
import threading
from typing import Callable, Iterable

# Seconds: from a fast Redis round trip up to a slow handler.
DEFAULT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    parts = [f'{n}="{_escape(str(v))}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Metric:
    """Base of the three kinds: a name, help text, label names and a lock."""

    kind = "untyped"

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = tuple(labels)
        self._lock = threading.Lock()

    def header(self) -> list[str]:
        """The HELP and TYPE lines."""
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> list[str]:
        """The sample lines."""
        raise NotImplementedError

    def export(self) -> list[list[object]]:
        """The raw series as JSON-able rows ``[label values, data]`` (empty for computed gauges)."""
        return []

    def absorb(self, rows: list[list[object]]) -> None:
        """Add exported rows of the same metric from another process."""


class Counter(Metric):
    """A value that only goes up (by label values)."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[tuple[str, ...], float] = {}

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        """Add ``amount`` to the series named by ``label_values``."""
        with self._lock:
            self._values[label_values] = self._values.get(label_values, 0.0) + amount

    def value(self, *label_values: str) -> float:
        """The current value of one series (0 if never incremented)."""
        return self._values.get(label_values, 0.0)

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]

    def export(self) -> list[list[object]]:
        with self._lock:
            return [[list(k), v] for k, v in self._values.items()]

    def absorb(self, rows: list[list[object]]) -> None:
        for labels, value in rows:
            self.inc(*labels, amount=float(value))  # type: ignore[misc, arg-type]


class Gauge(Metric):
    """A value set at will, or computed at scrape time by ``collect``."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = (),
                 collect: Callable[[], dict[tuple[str, ...], float]] | None = None) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[tuple[str, ...], float] = {}
        self._collect = collect

    def set(self, value: float, *label_values: str) -> None:
        """Set one series."""
        with self._lock:
            self._values[label_values] = value

    def lines(self) -> list[str]:
        values = self._collect() if self._collect is not None else None
        if values is None:
            with self._lock:
                values = dict(self._values)
        return [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in sorted(values.items())]


class Histogram(Metric):
    """Observations counted into cumulative buckets, with their sum and count."""

    kind = "histogram"

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = (),
                 buckets: tuple[float, ...] = DEFAULT_BUCKETS) -> None:
        super().__init__(name, help_text, labels)
        self.buckets = tuple(sorted(buckets))
        self._series: dict[tuple[str, ...], list[float]] = {}  # bucket counts..., then sum, count

    def observe(self, value: float, *label_values: str) -> None:
        """Record one observation (seconds, usually)."""
        index = bisect.bisect_left(self.buckets, value)
        with self._lock:
            series = self._series.get(label_values)
            if series is None:
                series = self._series[label_values] = [0.0] * (len(self.buckets) + 3)
            series[index] += 1
            series[-2] += value
            series[-1] += 1

    def count(self, *label_values: str) -> int:
        """How many observations one series has."""
        series = self._series.get(label_values)
        return int(series[-1]) if series else 0

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted((k, list(v)) for k, v in self._series.items())
        out = []
        for key, series in items:
            running = 0.0
            for bound, hits in zip((*self.buckets, float("inf")), series):
                running += hits
                le = 'le="' + _number(bound) + '"'
                out.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} {_number(running)}")
            out.append(f"{self.name}_sum{_labels(self.label_names, key)} {_number(series[-2])}")
            out.append(f"{self.name}_count{_labels(self.label_names, key)} {_number(series[-1])}")
        return out

    def export(self) -> list[list[object]]:
        with self._lock:
            return [[list(k), list(v)] for k, v in self._series.items()]

    def absorb(self, rows: list[list[object]]) -> None:
        with self._lock:
            for labels, data in rows:
                key = tuple(labels)  # type: ignore[arg-type]
                series = self._series.setdefault(key, [0.0] * (len(self.buckets) + 3))
                for i, value in enumerate(data):  # type: ignore[arg-type]
                    series[i] += value


class Registry:
    """A set of metrics rendered together."""

    def __init__(self) -> None:
        self.metrics: list[Metric] = []

    def add(self, metric: Metric) -> Metric:
        """Register a metric; returns it."""
        self.metrics.append(metric)
        return metric

    def counter(self, name: str, help_text: str, labels: Iterable[str] = ()) -> Counter:
        """Register and return a counter."""
        return self.add(Counter(name, help_text, labels))  # type: ignore[return-value]

    def gauge(self, name: str, help_text: str, labels: Iterable[str] = (),
              collect: Callable[[], dict[tuple[str, ...], float]] | None = None) -> Gauge:
        """Register and return a gauge."""
        return self.add(Gauge(name, help_text, labels, collect))  # type: ignore[return-value]

    def histogram(self, name: str, help_text: str, labels: Iterable[str] = (),
                  buckets: tuple[float, ...] = DEFAULT_BUCKETS) -> Histogram:
        """Register and return a histogram."""
        return self.add(Histogram(name, help_text, labels, buckets))  # type: ignore[return-value]

    def export(self) -> dict[str, list[list[object]]]:
        """Every metric's raw series, by name (see :meth:`Metric.export`)."""
        return {m.name: m.export() for m in self.metrics}

    def absorb(self, data: dict[str, list[list[object]]]) -> None:
        """Add another process's :meth:`export` into this registry."""
        for metric in self.metrics:
            metric.absorb(data.get(metric.name, []))

    def render(self) -> str:
        """The Prometheus text exposition of every metric."""
        lines: list[str] = []
        for metric in self.metrics:
            try:
                samples = metric.lines()
            except Exception:  # a collector that cannot reach Redis: leave its samples out this scrape
                samples = []
            lines += metric.header() + samples
        return "\n".join(lines) + "\n"

"""A parser of the Prometheus text exposition format into plain samples (for tests and the benchmark)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.parser import text_string_to_metric_families


def iter_samples(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    """Parse Prometheus text exposition into (name, labels, value) samples (for tests and the benchmark)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            yield sample.name, dict(sample.labels), sample.value

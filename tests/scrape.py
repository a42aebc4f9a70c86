"""Reading the proxy's ``/metrics`` in tests: the exposition parsed into plain numbers."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """One scrape of ``/metrics``: every sample by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: list[tuple[str, dict[str, str], float]] = []
        self.families: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            self.families[family.name] = family.type
            for sample in family.samples:
                self.samples.append((sample.name, dict(sample.labels), sample.value))

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called ``name`` whose labels include ``labels``."""
        return sum(
            value
            for sample_name, sample_labels, value in self.samples
            if sample_name == name and _matches(sample_labels, labels)
        )

    def labels_of(self, name: str) -> list[dict[str, str]]:
        """The label sets of the samples called ``name``."""
        return [labels for sample_name, labels, _ in self.samples if sample_name == name]


def _matches(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in wanted.items())


def scrape(base: str, headers: Mapping[str, str] | None = None) -> Scrape:
    response = httpx.get(f"{base}/metrics", headers=dict(headers or {}), timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)

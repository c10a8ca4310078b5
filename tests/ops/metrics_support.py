"""Reading /metrics in tests: scrape it, and pick one sample's value."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-token-for-tests-0123456789"


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics: (name, sorted labels) → value."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.content[:200]
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    """The sum over samples of `name` whose labels include `labels` (0 when none)."""
    wanted = {k: str(v) for k, v in labels.items()}
    return sum(
        v
        for (n, sample_labels), v in samples.items()
        if n == name and wanted.items() <= dict(sample_labels).items()
    )

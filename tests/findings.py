"""A finding must carry exactly the params its catalogue entry documents, with documented values."""

from __future__ import annotations

from pcapexplain.anomalies import CATALOGUE
from pcapexplain.model import Anomaly, AnomalySlug, Severity


def check_against_catalogue(anomaly: Anomaly) -> None:
    """Fail unless the finding's slug, severity, frames and params agree with CATALOGUE."""
    assert isinstance(anomaly.slug, AnomalySlug), anomaly
    assert isinstance(anomaly.severity, Severity), anomaly
    spec = CATALOGUE[anomaly.slug]
    where = f"{anomaly.slug} in connection {anomaly.connection}"
    assert set(anomaly.params) == set(spec.params), (where, sorted(anomaly.params))
    for key, value in anomaly.params.items():
        assert type(value) in (int, float, str), (where, key, value)
        if key in spec.values:
            assert value in spec.values[key], (where, key, value)
        elif isinstance(value, str):
            raise AssertionError(f"{where}: text param {key}={value!r} has no documented values")
    assert anomaly.frames, where
    assert list(anomaly.frames) == sorted(set(anomaly.frames)), where

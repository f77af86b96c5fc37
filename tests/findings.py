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
        if isinstance(value, str):
            # A number param may say "unknown" in a documented word (the retransmission's rtt).
            documented = spec.values.get(key)
            assert documented is not None, f"{where}: text param {key}={value!r} is undocumented"
            assert value in documented, (where, key, value)
    assert anomaly.frames, where
    assert list(anomaly.frames) == sorted(set(anomaly.frames)), where

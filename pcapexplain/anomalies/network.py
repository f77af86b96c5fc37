"""What the network said about a connection: ICMP errors quoting its segments."""

from __future__ import annotations

from collections.abc import Iterator

from pcapexplain import icmp
from pcapexplain.anomalies.catalogue import CATALOGUE
from pcapexplain.anomalies.context import MAX_FRAMES, Context
from pcapexplain.anomalies.preconditions import needs
from pcapexplain.model import Anomaly, AnomalySlug, IcmpError

A = AnomalySlug


@needs(lambda f: f.icmp_errors > 0)
def check_icmp_errors(ctx: Context) -> Iterator[Anomaly]:
    """ICMP errors about the connection's segments: what the first one says and who sent it.

    The frames are those of the TCP segments the errors quote (a finding's frames are always the
    connection's packets); the story's notes give the errors' own frames."""
    errors = ctx.c.icmp
    if not errors:
        return
    first = errors[0]
    quoted = {ctx.p.frame[r] for e in errors if (r := _quoted_row(ctx, e)) is not None}
    frames = tuple(sorted(quoted))[:MAX_FRAMES]
    params: dict[str, str | int | float] = {
        "count": len(errors),
        "kind": icmp.kind_of(first).value,
        "source": icmp.source(first),
        "type": first.type,
        "code": first.code,
    }
    yield Anomaly(A.ICMP_ERROR, CATALOGUE[A.ICMP_ERROR].severity, ctx.c.id, frames, params)


def _quoted_row(ctx: Context, error: IcmpError) -> int | None:
    """The last segment before the error from the quoted sender with the quoted seq."""
    p, found = ctx.p, None
    for row in ctx.c.packet_index:
        if p.time[row] > error.time:
            break
        if p.seq[row] == error.seq and p.src[row] == error.src and p.sport[row] == error.sport:
            found = row
    return found

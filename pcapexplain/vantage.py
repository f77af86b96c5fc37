"""Where the capture was taken (pure): the capture point, from the handshake's split round trip.

At the capture point, SYN → SYN-ACK lasts the trip to the server and back, and SYN-ACK → ACK the
trip to the client and back (plus each host's turnaround, tens of microseconds). Captured beside
the client, the first half holds nearly the whole round trip; beside the server, the second.
"""

from __future__ import annotations

from pcapexplain.model import CapturePoint, Handshake, Vantage

# The nearer endpoint's half must be at most this share of the round trip to call the capture
# point "near" it: a quarter of the other half, so a turnaround time cannot fake it.
NEAR_SHARE = 0.2
# Below this round trip, host turnaround (~0.01-0.1 ms) is as large as the path itself: the split
# still leans one way, but the evidence is weak.
WEAK_RTT = 0.001  # seconds

_UNKNOWN = Vantage()  # shared: it is frozen


def locate(handshake: Handshake, syn_synack: float | None, synack_ack: float | None) -> Vantage:
    """The capture point of one connection.

    handshake: its outcome; only a complete SYN, SYN-ACK, ACK exchange is a round trip to split
    (a simultaneous open's SYN-ACKs cross, and a missing half leaves nothing to compare).
    syn_synack, synack_ack: the two halves in seconds, as measured at the capture point.
    """
    if handshake is not Handshake.COMPLETE or syn_synack is None or synack_ack is None:
        return _UNKNOWN
    total = syn_synack + synack_ack
    if total <= 0:
        return Vantage(client_delay=0.0, server_delay=0.0)
    share = syn_synack / total  # the server's share of the round trip
    if share >= 1 - NEAR_SHARE:
        point = CapturePoint.NEAR_CLIENT
    elif share <= NEAR_SHARE:
        point = CapturePoint.NEAR_SERVER
    else:
        point = CapturePoint.MIDDLE
    # Positional (point, weak, client_delay, server_delay): once per connection, and a frozen
    # dataclass's keywords cost a third of the call.
    return Vantage(point, total < WEAK_RTT, synack_ack / 2, syn_synack / 2)

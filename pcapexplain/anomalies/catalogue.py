"""Anomaly catalogue (data): every slug's default severity, parameters and peers in other tools.

The entries follow TCP-REFERENCE section (b), in its order: handshake H1–H10, data phase D1–D15,
teardown T4–T11 (T1–T3 are normal outcomes, carried by `Connection.teardown`); the ids are noted
beside each AnomalySlug member.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pcapexplain.icmp import IcmpKind
from pcapexplain.model import AnomalySlug, IllegalFlags, Severity
from pcapexplain.retransmission import Cause

A = AnomalySlug


@dataclass(frozen=True, slots=True)
class AnomalySpec:
    """One catalogue entry.

    params names the keys a detected Anomaly carries in `params` (all plain ints, floats in
    seconds, or the short enum-like strings listed in `values`); explanations.py formats its texts
    with them. Side-like params ("side", "time_wait_side") take `Closer` values. The peers say
    what Wireshark shows and Zeek logs for the same thing ("-" for nothing); the report prints
    them beside each finding.
    """

    slug: AnomalySlug
    severity: Severity  # the default; some checks raise or lower it per instance
    params: tuple[str, ...]
    wireshark_peer: str
    zeek_peer: str
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


INFO, N, W, E = Severity.INFO, Severity.NOTE, Severity.WARN, Severity.ERROR
_SIDE = ("client", "server")
_BACKOFF = ("none", "doubling", "constant", "irregular")
_RETRY = ("count", "first_interval", "last_interval", "backoff")
# fmt: off
_SPECS = (
    # H1: count SYNs, intervals between them, seconds of capture after the last one.
    AnomalySpec(A.SYN_UNANSWERED, W, (*_RETRY, "after_last", "variant"),
                "tcp.completeness=1; SYNs 2..n tcp.analysis.retransmission", "S0, history S",
                {"backoff": _BACKOFF, "variant": ("timed-out", "at-capture-end")}),
    # side: who resent it (the server only in a simultaneous open, which sends a SYN too).
    AnomalySpec(A.SYN_RETRANSMITTED, N, ("side", *_RETRY), "tcp.analysis.retransmission",
                "history S (not repeated)", {"backoff": _BACKOFF, "side": _SIDE}),
    # H2: port = server port; delay = seconds from the first SYN to the RST.
    AnomalySpec(A.CONNECTION_REFUSED, W, ("port", "delay"),
                "tcp.connection.rst; completeness 37", "REJ, history Sr"),
    # Not in the catalogue of TCP-REFERENCE: ICMP errors quoting the connection's segments (any
    # phase); kind, type and code are the first one's; source: who sent it.
    AnomalySpec(A.ICMP_ERROR, W, ("count", "kind", "source", "type", "code"),
                "icmp.type 3 / icmpv6.type 1, 2, 3 quoting the TCP header",
                "a row of its own (proto icmp); the TCP row stays S0",
                {"kind": tuple(k.value for k in IcmpKind), "source": ("destination", "router")}),
    # H3: count = SYN-ACKs sent; wait = seconds of capture after the first SYN-ACK.
    AnomalySpec(A.HANDSHAKE_INCOMPLETE, W, ("count", "wait"), "completeness 3",
                "S1, history Sh"),
    # side: who resent it (the client only in a simultaneous open, which sends a SYN-ACK too).
    AnomalySpec(A.SYNACK_RETRANSMITTED, N, ("side", *_RETRY), "tcp.analysis.retransmission",
                "history h (not repeated)", {"backoff": _BACKOFF, "side": _SIDE}),
    AnomalySpec(A.OLD_DUPLICATE_SYN, N, ("variant",),
                "RST only (tcp.connection.rst); next SYN tcp.analysis.reused_ports",
                "weird bad_SYN_ack", {"variant": ("stale-syn-captured", "synack-mismatch")}),
    # H5: suppressed = tshark retransmission/dup-ACK labels not reported (they are the handshake).
    AnomalySpec(A.SIMULTANEOUS_OPEN, INFO, ("suppressed",),
                "mislabelled retransmission x2 + duplicate_ack", "weird simultaneous_open"),
    # port = the one port at both ends; variant: whether its SYN came back to it (its SYN-ACK).
    AnomalySpec(A.SELF_CONNECT, W, ("port", "variant"),
                "SYN-ACK mislabelled tcp.analysis.retransmission (the SYN's own seq)",
                "SH, history SADF: one endpoint, the responder never active",
                {"variant": ("connected", "attempt")}),
    AnomalySpec(A.SYN_DATA, INFO, ("bytes", "kind", "outcome"),
                "tcp.analysis.tfo_syn / tfo_ack / tfo_ignored", "-",
                {"kind": ("tfo", "plain"), "outcome": ("accepted", "ignored", "unanswered")}),
    AnomalySpec(A.ILLEGAL_FLAGS, W, ("count", "variant", "side"), "-", "history Q/q, I/i",
                {"variant": (*(v.value for v in IllegalFlags), "mixed"),
                 "side": _SIDE}),
    AnomalySpec(A.ACK_WITHOUT_ACK_FLAG, N, ("count",), "tcp.ack.nonzero", "-"),
    # H9: gap = seconds since the previous incarnation's last packet; previous = its id.
    AnomalySpec(A.PORT_REUSED, INFO, ("gap", "previous"),
                "tcp.analysis.reused_ports; new tcp.stream", "new uid (connection_reused)"),
    AnomalySpec(A.PORT_REUSED_IN_TIME_WAIT, N,
                ("gap", "previous", "time_wait_side", "limit", "variant"),
                "tcp.analysis.reused_ports", "new uid (connection_reused)",
                {"time_wait_side": (*_SIDE, "both"), "variant": ("linux", "rfc")}),
    AnomalySpec(A.SYN_IN_ESTABLISHED, W, ("count", "side"),
                "tcp.analysis.reused_ports only if the ISN differs", "weird SYN_inside_connection",
                {"side": _SIDE}),
    # D1–D3: count packets, bytes of payload; share = retransmitted / all payload bytes.
    # D1: cause from retransmission.evidence; delays in milliseconds since the copy before; rtt
    # in milliseconds, "-" without a captured handshake.
    AnomalySpec(A.RETRANSMISSION, N,
                ("count", "bytes", "share", "cause", "delay_min", "delay_max", "rtt"),
                "tcp.analysis.retransmission", "history T/t",
                {"cause": tuple(c.value for c in Cause if c is not Cause.SPURIOUS),
                 "rtt": ("-",)}),  # milliseconds, or "-" without a handshake to measure it
    AnomalySpec(A.FAST_RETRANSMISSION, N, ("count", "bytes"),
                "tcp.analysis.fast_retransmission", "history T/t"),
    AnomalySpec(A.SPURIOUS_RETRANSMISSION, N, ("count", "bytes"),
                "tcp.analysis.spurious_retransmission", "history T/t"),
    # D4: count gaps, bytes missing in them.
    AnomalySpec(A.SEGMENT_NOT_CAPTURED, W, ("count", "bytes", "cause"),
                "tcp.analysis.lost_segment", "history G/g, missed_bytes",
                {"cause": ("unknown", "network-loss", "mixed")}),
    AnomalySpec(A.CAPTURE_LOSS, INFO, ("count", "bytes"), "tcp.analysis.lost_segment",
                "history G/g, missed_bytes"),
    AnomalySpec(A.ACKED_UNSEEN_SEGMENT, INFO, ("count", "variant"),
                "tcp.analysis.ack_lost_segment", "-",
                {"variant": ("capture-start", "after-gap", "unexplained")}),
    AnomalySpec(A.OUT_OF_ORDER, N, ("count", "bytes"), "tcp.analysis.out_of_order", "-"),
    # D7: count dup ACKs, runs of them (same ack value), longest run.
    AnomalySpec(A.DUPLICATE_ACK, INFO, ("count", "runs", "longest"),
                "tcp.analysis.duplicate_ack", "-"),
    AnomalySpec(A.TRIPLE_DUPLICATE_ACK, N, ("count", "longest"),
                "tcp.analysis.duplicate_ack_num >= 3", "-"),
    # D8: one per episode; side = who advertised 0; duration in seconds; probes seen meanwhile.
    AnomalySpec(A.ZERO_WINDOW, W, ("side", "duration", "probes", "variant"),
                "tcp.analysis.zero_window", "history W/w",
                {"side": _SIDE, "variant": ("reopened", "still-closed")}),
    AnomalySpec(A.ZERO_WINDOW_PROBE, INFO, ("count", "variant"),
                "tcp.analysis.zero_window_probe (zero-length probes: keep_alive)", "-",
                {"variant": ("one-byte", "zero-length", "mixed")}),
    AnomalySpec(A.WINDOW_FULL, N, ("count", "side"), "tcp.analysis.window_full", "-",
                {"side": (*_SIDE, "both")}),
    AnomalySpec(A.WINDOW_UPDATE, INFO, ("count",), "tcp.analysis.window_update", "-"),
    # D12: count probes, acks answering them, idle seconds before the first, interval between.
    AnomalySpec(A.KEEP_ALIVE, INFO, ("count", "acks", "idle", "interval"),
                "tcp.analysis.keep_alive / keep_alive_ack", "-"),
    # D13: largest payload seen, mss = the peer's announced MSS, side = the sender.
    AnomalySpec(A.SEGMENT_EXCEEDS_MSS, INFO, ("count", "largest", "mss", "side"), "-", "-",
                {"side": (*_SIDE, "both")}),
    AnomalySpec(A.BAD_CHECKSUM, E, ("count", "side"), "tcp.checksum.status == Bad",
                "history C/c", {"side": (*_SIDE, "both")}),
    AnomalySpec(A.CHECKSUM_OFFLOAD, INFO, ("count", "side"), "tcp.checksum.status == Bad",
                "history C/c; packets ignored", {"side": (*_SIDE, "both")}),
    AnomalySpec(A.DATA_BEFORE_HANDSHAKE, W, ("count", "bytes", "side"), "-",
                "weird data_before_established", {"side": (*_SIDE, "both")}),
    # Not in TCP-REFERENCE: tshark left tcp.len empty (a malformed or cut header).
    AnomalySpec(A.LENGTH_UNKNOWN, W, ("count", "side"), "_ws.malformed; no tcp.len", "-",
                {"side": (*_SIDE, "both")}),
    # T4: side = who kept sending after the peer's FIN (half-close) / who sits in CLOSE_WAIT.
    AnomalySpec(A.HALF_CLOSE, INFO, ("side", "bytes", "count"), "-", "-",
                {"side": _SIDE}),
    AnomalySpec(A.CLOSE_WAIT_LINGERING, N, ("side", "seconds"), "-", "S2/S3",
                {"side": _SIDE}),
    # T5: side = the FIN's sender.
    AnomalySpec(A.LOST_FINAL_ACK, N, ("count", "side"),
                "tcp.analysis.retransmission on the FIN", "history F/f", {"side": _SIDE}),
    AnomalySpec(A.FIN_RETRANSMITTED, N, ("count", "side"),
                "tcp.analysis.retransmission on the FIN", "history F/f", {"side": _SIDE}),
    # T6: side = the RST's sender; cause names the sub-case found.
    AnomalySpec(A.CONNECTION_RESET, W, ("side", "cause"), "tcp.connection.rst", "RSTO/RSTR",
                {"side": _SIDE, "cause": ("unknown", "after-fin", "data-after-close",
                                          "unacked-received", "unacked-sent", "middlebox",
                                          "gave-up", "no-connection", "keep-alive-lost")}),
    AnomalySpec(A.RESET_UNREAD_DATA, N, ("side", "cause", "bytes"), "tcp.connection.rst",
                "RSTO/RSTR",
                {"side": _SIDE, "cause": ("after-fin", "data-after-close", "unacked-received",
                                          "unacked-sent")}),
    AnomalySpec(A.RESET_BY_MIDDLEBOX, W, ("side", "ttl", "usual_ttl"), "tcp.connection.rst",
                "RSTO/RSTR", {"side": _SIDE}),
    # T7: offset = RST seq minus the sequence number its receiver expected (signed).
    AnomalySpec(A.RST_NOT_IN_WINDOW, W, ("side", "variant", "offset"), "-", "-",
                {"side": _SIDE, "variant": ("in-window", "out-of-window", "syn-sent")}),
    AnomalySpec(A.OPEN_AT_CAPTURE_END, INFO, ("idle", "duration"),
                "tcp.completeness without FIN/RST bits", "S1 (S2/S3 with one FIN)"),
    # Not in TCP-REFERENCE: side = who kept trying; count = its tries after the peer's last
    # packet; silent = seconds from that packet to the capture's end or the side's RST.
    AnomalySpec(A.PEER_UNRESPONSIVE, W, ("side", "ending", *_RETRY, "silent"),
                "tcp.analysis.retransmission (or keep_alive) repeated, no reply",
                "history T/t repeated", {"side": _SIDE, "ending": ("at-capture-end", "gave-up"),
                                         "backoff": _BACKOFF}),
    # Not in TCP-REFERENCE: side = who kept trying; count = its tries with nothing from the peer
    # in between, and the waits between them as for peer-unresponsive; stalled = seconds from
    # the first copy of what the tries resend, or the first probe (retransmission.waiting_since),
    # to the peer's answer; silent = from the peer's last packet before the tries to the answer;
    # frame = the answer's; variant = the side and whether the answer was a RST.
    AnomalySpec(A.STALLED, W,
                ("variant", "side", *_RETRY, "stalled", "silent", "frame"),
                "tcp.analysis.retransmission (or keep_alive) repeated, then a reply",
                "history T/t repeated",
                {"side": _SIDE, "backoff": _BACKOFF,
                 "variant": ("client-answered", "client-reset", "server-answered",
                             "server-reset")}),
    AnomalySpec(A.DATA_AFTER_RESET, E, ("count", "bytes", "side"), "-",
                "weird data_after_reset", {"side": (*_SIDE, "both")}),
    AnomalySpec(A.DATA_AFTER_FIN, E, ("count", "bytes", "side"), "-",
                "weird FIN_advanced_last_seq", {"side": (*_SIDE, "both")}),
    AnomalySpec(A.MIDSTREAM, INFO, (), "tcp.completeness 20/28", "OTH"),
    # T11: answer = what the new SYN got instead of a SYN-ACK.
    AnomalySpec(A.TIME_WAIT_CONFLICT, N, ("gap", "answer", "time_wait_side"),
                "tcp.analysis.reused_ports; the answer may be a dup ACK", "-",
                {"answer": ("ack", "rst"), "time_wait_side": (*_SIDE, "both")}),
)
# fmt: on

CATALOGUE: Mapping[AnomalySlug, AnomalySpec] = MappingProxyType({s.slug: s for s in _SPECS})

"""Pipeline entry point: load → reconstruct → anomalies → zeek, wrapped in the public Analysis."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pcapexplain import anomalies, readers, reconstructor, zeek_views
from pcapexplain.errors import ConnectionNotFound
from pcapexplain.explanations import said
from pcapexplain.files import ReadStatus
from pcapexplain.model import (
    Anomaly,
    Capture,
    CaptureAnalysis,
    CaptureInfo,
    Connection,
    IcmpError,
    PacketColumns,
    Reader,
)

if TYPE_CHECKING:
    import pandas as pd


# A part's tally of the capture-wide facts → the whole capture's (waiting for the other parts).
Share = Callable[[anomalies.Tally], anomalies.CaptureWide]


def analyse_columns(
    info: CaptureInfo,
    packets: PacketColumns,
    *,
    checksums_validated: bool = False,
    icmp: Sequence[IcmpError] = (),
    share: Share | None = None,
) -> CaptureAnalysis:
    """Run the pure stages over packets that are already loaded.

    info describes the capture; packets are the loader's typed columns; icmp the ICMP errors
    about TCP segments it found. With checksums_validated, the Zeek view drops packets whose
    checksums tshark found bad, as Zeek does by default. share is given when the packets are one
    part of a capture cut by 4-tuple (`shards.py`): it turns this part's tally of the facts the
    checks read across connections into the whole capture's.
    """
    connections, states = reconstructor.reconstruct(packets, icmp)
    wide = share(anomalies.tally(packets, states, connections)) if share else None
    findings = anomalies.detect(packets, states, connections, wide)
    verdicts = zeek_views.verdicts(packets, connections, checksums_validated=checksums_validated)
    return CaptureAnalysis(
        capture=info,
        packets=packets,
        states=states,
        connections=connections,
        anomalies=findings,
        zeek=verdicts,
    )


def analyse_capture(capture: Capture, *, checksums_validated: bool = False) -> CaptureAnalysis:
    """The pure stages over a capture a reader loaded: its packets and its ICMP errors."""
    return analyse_columns(
        capture.info,
        capture.packets,
        checksums_validated=checksums_validated,
        icmp=capture.icmp,
    )


@dataclass
class Analysis:
    """One analysed capture. `.connections` and `.packets` are pandas DataFrames (explicit dtypes).

    `.result` holds the pure model objects that every writer (JSON, report, explain) reads.
    """

    result: CaptureAnalysis
    _frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def capture(self) -> CaptureInfo:
        return self.result.capture

    @property
    def anomalies(self) -> list[Anomaly]:
        return self.result.anomalies

    @property
    def connections(self) -> pd.DataFrame:
        return self._frame("connections")

    @property
    def packets(self) -> pd.DataFrame:
        return self._frame("packets")

    def connection(self, connection_id: int) -> Connection:
        """The connection with this id; raises ConnectionNotFound."""
        for conn in self.result.connections:
            if conn.id == connection_id:
                return conn
        count = len(self.result.connections)
        name = os.path.basename(self.capture.path)
        raise ConnectionNotFound(
            said("error.no_connection", id=connection_id, name=name, count=count, last=count - 1)
        )

    def _frame(self, name: str) -> pd.DataFrame:
        # Built on first use: the CLI's writers never ask for a DataFrame.
        if name not in self._frames:
            from pcapexplain import tables

            builder = tables.connections_frame if name == "connections" else tables.packets_frame
            self._frames[name] = builder(self.result)
        return self._frames[name]


def analyse(
    path: str | os.PathLike[str],
    *,
    validate_checksums: bool = False,
    reader: Reader | str = Reader.AUTO,
    status: ReadStatus | None = None,
    digest: bool = True,
) -> Analysis:
    """Read a capture and analyse every TCP connection in it.

    path is a pcap, pcapng or gzip-compressed capture, or "-" for standard input. With
    validate_checksums, IP and TCP checksums are checked and the Zeek view ignores bad packets as
    Zeek does. reader is "auto" (the native reader when it reads everything in the file, else
    tshark), "native" or "tshark"; `.capture.reader` says which one read it. status, when given,
    follows the reading for a progress display. Without digest the native reader leaves
    `.capture.sha256` empty. Raises PcapExplainError subclasses for bad input.
    """
    capture = readers.load(
        path,
        reader=Reader(reader),
        validate_checksums=validate_checksums,
        status=status,
        digest=digest,
    )
    result = analyse_capture(capture, checksums_validated=validate_checksums)
    return Analysis(result)

"""The Python API: pcapexplain.analyse(path) with pandas views of explicit dtypes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import pcapexplain
from pcapexplain import api, reconstructor
from pcapexplain.errors import ConnectionNotFound
from pcapexplain.model import AnomalySlug, CaptureInfo, ConnState, TcpFlags, ZeekVerdict
from pcapexplain.tables import CONNECTION_DTYPES
from tests.builders import Conversation

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"


@pytest.mark.tshark
def test_analyse_gives_typed_frames() -> None:
    analysis = pcapexplain.analyse(SAMPLES / "port_reuse_time_wait.pcap")
    conns = analysis.connections
    assert list(conns.columns) == list(CONNECTION_DTYPES)
    assert len(conns) == 2
    assert conns["id"].dtype == "int64"
    assert isinstance(conns["handshake"].dtype, pd.CategoricalDtype)
    assert isinstance(conns["zeek_state"].dtype, pd.CategoricalDtype)
    assert conns["client_mss"].dtype == "Int64"
    assert conns["handshake"].tolist() == ["complete", "complete"]
    assert conns["anomalies"].iloc[1] == "port-reused-in-time-wait"

    packets = analysis.packets
    assert len(packets) == 22
    assert packets["connection"].tolist() == [0] * 11 + [1] * 11
    assert packets["seq_raw"].dtype == "int64"
    assert isinstance(packets["client_after"].dtype, pd.CategoricalDtype)
    assert packets["client_after"].iloc[10] == "TIME_WAIT"
    assert packets["role"].iloc[0] == "SYN"


@pytest.mark.tshark
def test_anomalies_and_connection_lookup() -> None:
    analysis = pcapexplain.analyse(SAMPLES / "refused.pcap")
    assert [a.slug for a in analysis.anomalies] == ["connection-refused"]
    assert analysis.connection(0).handshake.value == "refused"
    with pytest.raises(ConnectionNotFound):
        analysis.connection(5)
    assert analysis.capture.tshark_version


def test_later_stages_return_their_findings_and_leave_connections_alone() -> None:
    """The data flow of api.analyse_columns: each stage's result is a field of the analysis."""
    conv = Conversation()
    conv.send(conv.client, TcpFlags.SYN)
    conv.send(conv.server, TcpFlags.RST | TcpFlags.ACK, seq=0)
    packets = conv.columns()
    reconstructed, states = reconstructor.reconstruct(packets)
    result = api.analyse_columns(CaptureInfo("x.pcap", 1, "0", "T", len(packets)), packets)
    assert result.connections == reconstructed  # the reconstructor's output, untouched
    assert list(result.states.role) == list(states.role)
    assert [a.slug for a in result.anomalies] == [AnomalySlug.CONNECTION_REFUSED]
    assert result.anomalies_of(0) == tuple(result.anomalies)
    assert result.zeek == {0: ZeekVerdict(ConnState.REJ, "Sr")}

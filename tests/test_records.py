"""The typed record behind `connections`: enums to the edge, one JSON form, one flat form."""

from __future__ import annotations

import json

from pcapexplain import api, records
from pcapexplain.model import AnomalySlug, CaptureInfo, ConnState, Handshake, TcpFlags, TcpState
from pcapexplain.output import csv_text
from tests.builders import Conversation


def _refused() -> list[records.ConnectionRecord]:
    conv = Conversation()
    conv.send(conv.client, TcpFlags.SYN, mss=1460)
    conv.send(conv.server, TcpFlags.RST | TcpFlags.ACK, seq=0)
    packets = conv.columns()
    result = api.analyse_columns(CaptureInfo("r.pcap", 1, "0", "4.0.17", len(packets)), packets)
    return records.connection_records(result, "r.pcap")


def test_the_record_keeps_closed_vocabularies_as_enums() -> None:
    (record,) = _refused()
    assert record.handshake is Handshake.REFUSED
    assert record.zeek_state is ConnState.REJ
    assert record.client_final_state is TcpState.CLOSED
    assert record.anomalies == (AnomalySlug.CONNECTION_REFUSED,)
    assert record.packets == 2


def test_json_writes_values_states_by_name_and_options_as_objects() -> None:
    (row,) = json.loads(records.to_json(_refused()))
    assert row["handshake"] == "refused" and row["zeek_state"] == "REJ"
    assert row["client_final_state"] == "CLOSED"
    assert row["anomalies"] == ["connection-refused"]
    assert row["client_options"]["mss"] == 1460
    assert row["tshark_streams"] == [0] and row["tshark_version"] == "4.0.17"


def test_flat_spreads_options_and_joins_lists() -> None:
    (record,) = _refused()
    flat = record.flat()
    assert flat["client_mss"] == 1460 and flat["server_mss"] is None
    assert flat["anomalies"] == "connection-refused"
    assert "client_options" not in flat
    header = csv_text([flat]).splitlines()[0].split(",")
    assert header == list(flat)

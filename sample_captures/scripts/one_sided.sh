#!/usr/bin/env bash
# Make the one-sided samples whose missing side holds the answer to "who closed first": the
# packets of a real two-sided sample that a capture filter `src host X` (or a capture point the
# traffic passes one way only) would have kept. tcpdump -r copies the kept packets unchanged.
#
# Usage:  bash sample_captures/scripts/one_sided.sh   (after make_captures.sh; OUTDIR=DIR elsewhere)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUTDIR:-$(dirname "$HERE")}"
SRC="$(dirname "$HERE")"

keep() {  # keep SOURCE FILTER TARGET
    tcpdump -r "$SRC/$1" -w "$OUT/$3.tmp" "$2" 2>/dev/null
    mv "$OUT/$3.tmp" "$OUT/$3"
    echo "  wrote $OUT/$3 ($2 from $1)"
}

# The server closes first; only the client's packets: its FIN is the passive close, and its
# earlier ACK already covered the server's FIN.
keep normal_close_server_first.pcap "tcp and src host 10.77.0.1" one_direction_passive.pcap
# The client closes first; only the server's packets: its FIN+ACK acknowledges the client's FIN
# in the same segment (a three-way close).
keep three_way_close.pcap "tcp and src host 10.77.0.2" one_direction_three_way.pcap

#!/usr/bin/env bash
# Re-make the real sample captures in sample_captures/ with the Linux TCP stack.
#
# Usage (as root):  bash sample_captures/scripts/make_captures.sh [SCENARIO ...]
#   without arguments every scenario of scenarios.py is captured; OUTDIR=DIR writes elsewhere.
#
# For each scenario: create two network namespaces, pxa (client, 10.77.0.1 / fd77::1) and
# pxb (server, 10.77.0.2 / fd77::2), joined by the veth pair veth-a <-> veth-b; run the scenario
# (scenarios.py starts tcpdump in pxa, the server in pxb and the client in pxa); delete the
# namespaces again. A fresh pair per scenario means no TIME_WAIT socket, iptables rule or sysctl
# leaks from one scenario into the next. The namespaces are deleted on any exit (trap).
# Nothing leaves the two namespaces.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUTDIR:-$(dirname "$HERE")}"  # OUTDIR=... writes elsewhere
PY="${PYTHON:-python3}"
NS_A="${NS_PREFIX:-px}a"  # NS_PREFIX=... names the namespaces otherwise (default pxa, pxb)
NS_B="${NS_PREFIX:-px}b"

need() {
    local missing=()
    command -v tcpdump >/dev/null || missing+=(tcpdump)
    command -v ip >/dev/null || missing+=(iproute2)
    command -v iptables >/dev/null || missing+=(iptables)
    command -v ethtool >/dev/null || missing+=(ethtool)
    command -v "$PY" >/dev/null || missing+=(python3)
    if ((${#missing[@]})); then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
}

teardown() {
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
}

setup() {
    teardown
    ip netns add "$NS_A"
    ip netns add "$NS_B"
    ip link add veth-a netns "$NS_A" type veth peer name veth-b netns "$NS_B"
    ip -n "$NS_A" addr add 10.77.0.1/24 dev veth-a
    ip -n "$NS_B" addr add 10.77.0.2/24 dev veth-b
    ip -n "$NS_A" addr add fd77::1/64 dev veth-a nodad
    ip -n "$NS_B" addr add fd77::2/64 dev veth-b nodad
    for ns in "$NS_A" "$NS_B"; do
        ip -n "$ns" link set lo up
        # No segmentation/receive offload: the capture then shows the segments as they would be
        # on a wire (each at most one MSS), not 64 KB GSO super-packets.
        local dev=veth-a
        [[ $ns == "$NS_B" ]] && dev=veth-b
        ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off >/dev/null 2>&1 || true
        ip -n "$ns" link set "$dev" up
    done
    sleep 0.3  # let both ends of the veth come up (IPv6 needs no DAD thanks to nodad)
}

main() {
    if [[ $EUID -ne 0 ]]; then
        echo "make_captures.sh: run as root (network namespaces, iptables, tcpdump)" >&2
        exit 1
    fi
    need
    trap teardown EXIT INT TERM
    local scenarios=("$@")
    if ((${#scenarios[@]} == 0)); then
        mapfile -t scenarios < <("$PY" "$HERE/scenarios.py" list)
    fi
    for name in "${scenarios[@]}"; do
        echo "== $name"
        setup
        NS_PREFIX="${NS_PREFIX:-px}" "$PY" "$HERE/scenarios.py" run "$name" "$OUT"
        teardown
    done
}

main "$@"

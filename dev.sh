#!/usr/bin/env bash
# Set-up and entry points for a fresh Debian/Ubuntu machine. Two commands do everything:
#   bash dev.sh demo   install what is missing, then report on a bundled sample capture
#   bash dev.sh test   install what is missing, then run the whole test suite (ruff and mypy included)
set -euo pipefail
cd "$(dirname "$0")"

VENV=${VENV:-.venv}
DEMO=${DEMO:-sample_captures/normal_close_client_first.pcap}
OUT=${OUT:-out}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  echo "dev.sh: installing $* from the OS packages"
  as_root apt-get update -qq
  # tshark asks whether non-root users may capture; answer for it so the install never stops.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | as_root debconf-set-selections
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

setup() {
  local missing=()
  command -v tshark >/dev/null 2>&1 || missing+=(tshark)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv python3-pip)
  # Without a CJK font every Chinese character of a zh report is an empty box.
  dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing+=(fonts-noto-cjk)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  # Reinstall only when pyproject.toml changed since the last install.
  if [ ! -f "$VENV/.installed" ] || [ pyproject.toml -nt "$VENV/.installed" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e '.[dev]'
    touch "$VENV/.installed"
  fi
}

demo() {
  setup
  mkdir -p "$OUT"
  "$VENV/bin/pcapexplain" doctor
  "$VENV/bin/pcapexplain" connections "$DEMO"
  "$VENV/bin/pcapexplain" explain "$DEMO"
  "$VENV/bin/pcapexplain" report "$DEMO" -o "$OUT/demo.html"
  "$VENV/bin/pcapexplain" report "$DEMO" -o "$OUT/demo.zh.html" --lang zh
}

run_tests() {
  setup
  local rc=0
  "$VENV/bin/python" -m pytest "$@" || rc=$?
  # pytest exits 5 when it collected nothing: a suite that runs no test is broken.
  if [ "$rc" -eq 5 ]; then
    echo "dev.sh: pytest collected no tests" >&2
    return 1
  fi
  return "$rc"
}

case "${1:-}" in
  demo) demo ;;
  test) shift; run_tests "$@" ;;
  setup) setup ;;
  *) echo "usage: bash dev.sh demo|test [pytest args]|setup" >&2; exit 2 ;;
esac

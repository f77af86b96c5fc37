#!/usr/bin/env bash
# Set-up and entry points for a fresh Debian/Ubuntu machine. Two commands do everything:
#   bash dev.sh demo   install what is missing, then report on a bundled sample capture
#   bash dev.sh test   install everything the test suite needs, then run it (ruff and mypy included)
# CI runs `bash dev.sh test` too (.ci/run), so this file holds the one list of what to install.
set -euo pipefail
cd "$(dirname "$0")"

VENV=${VENV:-.venv}
DEMO=${DEMO:-sample_captures/normal_close_client_first.pcap}
OUT=${OUT:-out}
SHARED=../shared/captures  # the corpora, when a copy of shared/ sits beside the project

# Debian packages, each with the command that shows it is installed (none: ask dpkg).
# demo needs the first list; the test suite needs both.
APT_DEMO=(
  "tshark tshark"
  "fonts-noto-cjk"                # Chinese glyphs: without them the demo's zh report is empty boxes
)
APT_TEST=(
  "tcpdump tcpdump"               # sample capture scripts, link-type tests
  "chromium chromium"             # the report in a real browser (Playwright drives Debian's build)
  "procps pgrep"                  # the test that no tshark outlives an interrupted run
)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing_packages() {
  local entry package probe
  for entry in "$@"; do
    read -r package probe <<<"$entry"
    if [ -n "${probe:-}" ]; then
      command -v "$probe" >/dev/null 2>&1 && continue
    elif dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null | grep -qx installed; then
      continue
    fi
    printf '%s\n' "$package"
  done
}

apt_install() {
  echo "dev.sh: installing $* from the OS packages"
  as_root apt-get update -qq
  # tshark asks whether non-root users may capture; answer for it so the install never stops.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | as_root debconf-set-selections
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

setup() {
  local missing=()
  mapfile -t missing < <(missing_packages "$@")
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv python3-pip)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  # Reinstall only when pyproject.toml changed since the last install.
  if [ ! -f "$VENV/.installed" ] || [ pyproject.toml -nt "$VENV/.installed" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e '.[dev,dask]'
    touch "$VENV/.installed"
  fi
}

demo() {
  setup "${APT_DEMO[@]}"
  mkdir -p "$OUT"
  "$VENV/bin/pcapexplain" doctor
  "$VENV/bin/pcapexplain" connections "$DEMO"
  "$VENV/bin/pcapexplain" explain "$DEMO"
  "$VENV/bin/pcapexplain" report "$DEMO" -o "$OUT/demo.html"
  "$VENV/bin/pcapexplain" report "$DEMO" -o "$OUT/demo.zh.html" --lang zh
}

corpus() {  # corpus VARIABLE NAME: point VARIABLE at $SHARED/NAME unless it is set already
  local variable=$1 folder="$SHARED/$2"
  if [ -n "${!variable:-}" ]; then
    return
  elif [ -d "$folder" ]; then
    export "$variable=$(cd "$folder" && pwd)"
  else
    echo "dev.sh: no $folder beside the project; tests that need $variable will skip" >&2
  fi
}

run_tests() {
  setup "${APT_DEMO[@]}" "${APT_TEST[@]}"
  corpus PCAPEXPLAIN_ZEEK_CORPUS zeek
  corpus PCAPEXPLAIN_TCPDUMP_CORPUS tcpdump
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
  setup) setup "${APT_DEMO[@]}" "${APT_TEST[@]}" ;;
  *) echo "usage: bash dev.sh demo|test [pytest args]|setup" >&2; exit 2 ;;
esac

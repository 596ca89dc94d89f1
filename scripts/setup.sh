#!/usr/bin/env bash
# Set up everything callgen needs on a fresh Debian 12 machine (run as root):
#   1. Debian packages: pjproject build deps, tcpdump, tshark, kamailio, sipp, sox ...
#   2. pjsua, built from pjproject source into .build/ (skipped when PJSUA=/path
#      is given or a pjsua is already on PATH; PJPROJECT_TARBALL=/path.tar.* builds
#      from a local release tarball instead of Debian's asterisk source package)
#   3. a virtualenv in .venv with callgen and its test extras
# Idempotent: every step checks a stamp or the installed state first, so a second
# run takes seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$ROOT/.build"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"
mkdir -p "$BUILD"
# One set-up at a time (two make targets started together must not build twice)
exec 9>"$BUILD/.setup.lock"
flock 9

log() { printf '[setup] %s\n' "$*" >&2; }

# python3-dev: the pesq package (PESQ checks) builds a C extension from its source release
# python3-venv: a venv on Debian's /usr/bin/python3 for non-root users (docs/security.md)
DEB_PACKAGES=(
  build-essential pkg-config xz-utils ca-certificates python3-dev python3-venv
  libssl-dev libsrtp2-dev libopus-dev libspeex-dev libspeexdsp-dev libgsm1-dev uuid-dev
  tcpdump tshark kamailio rtpengine sip-tester baresip sox espeak-ng openssl procps
  chromium fonts-dejavu-core
  postgresql libpq5
)

install_debs() {
  local missing=()
  for p in "${DEB_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if ((${#missing[@]} == 0)); then
    log "Debian packages: all present"
    return
  fi
  if [[ $(id -u) -ne 0 ]]; then
    log "missing Debian packages: ${missing[*]} (run as root, or install them first)"
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Find the Debian mirror this machine already uses, so no host name is written here.
debian_mirror() {
  local uri=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    uri=$(awk '/^URIs:/ {for (i=2;i<=NF;i++) if ($i ~ /debian\/?$/) {print $i; exit}}' \
      /etc/apt/sources.list.d/*.sources | head -n1)
  fi
  if [[ -z "$uri" && -f /etc/apt/sources.list ]]; then
    uri=$(awk '$1=="deb" {for (i=2;i<=NF;i++) if ($i ~ /^(http|https|file):.*debian\/?$/) {print $i; exit}}' \
      /etc/apt/sources.list | head -n1)
  fi
  [[ -n "$uri" ]] || { log "cannot find a Debian mirror in /etc/apt sources"; exit 1; }
  printf '%s\n' "${uri%/}"
}

# Fetch Debian's asterisk source package's pjproject component tarball (sid),
# using a private apt state directory so the system's apt state is untouched.
fetch_pjproject_tarball() {
  local d="$BUILD/apt-sid"
  mkdir -p "$d/lists/partial" "$d/archives/partial" "$d/src"
  local existing
  existing=$(ls "$d"/src/asterisk_*.orig-*pjproject.tar.* 2>/dev/null | head -n1 || true)
  if [[ -n "$existing" ]]; then
    printf '%s\n' "$existing"; return
  fi
  local mirror; mirror=$(debian_mirror)
  printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s sid main\n' \
    "$mirror" >"$d/sources.list"
  local opts=(-o "Dir::Etc::sourcelist=$d/sources.list" -o Dir::Etc::sourceparts=/dev/null
    -o "Dir::State::Lists=$d/lists" -o "Dir::Cache::pkgcache=$d/p.bin"
    -o "Dir::Cache::srcpkgcache=$d/s.bin" -o Acquire::Check-Valid-Until=false -o APT::Sandbox::User=root)
  log "fetching pjproject source (Debian asterisk source package, sid) from $mirror"
  apt-get "${opts[@]}" update -qq >&2
  (cd "$d/src" && apt-get "${opts[@]}" source --download-only asterisk >&2)
  ls "$d"/src/asterisk_*.orig-*pjproject.tar.* | head -n1
}

# callgen's own small patch series against pjsua's app (scripts/pjsua-patches/NNNN-*.patch,
# each says what and why; docs/pjsua-patches.md).  `patch` comes with build-essential (dpkg-dev).
pjsua_patches() { ls "$ROOT"/scripts/pjsua-patches/*.patch 2>/dev/null | LC_ALL=C sort; }

pjsua_inputs_sha() {
  local p
  {
    sha256sum "$ROOT/scripts/pjsua-config_site.h" | cut -d' ' -f1
    for p in $(pjsua_patches); do printf '%s ' "$(basename "$p")"; sha256sum "$p" | cut -d' ' -f1; done
  } | sha256sum | cut -d' ' -f1
}

apply_pjsua_patches() {
  local src="$1" plog="${2:-$BUILD/patch.log}" p
  for p in $(pjsua_patches); do
    if ! patch -p1 --batch --forward -d "$src" <"$p" >>"$plog" 2>&1; then
      log "pjsua patch $(basename "$p") does not apply to this pjproject; see $plog"
      tail -n 20 "$plog" >&2
      exit 1
    fi
    log "applied $(basename "$p")"
  done
}

build_pjsua() {
  if [[ -n "${PJSUA:-}" ]]; then
    [[ -x "$PJSUA" ]] || { log "PJSUA=$PJSUA is not an executable"; exit 1; }
    log "pjsua: using PJSUA=$PJSUA"; return
  fi
  # Rebuild when config_site.h or any patch of our series changes (or one is added/removed)
  local want_cfg; want_cfg=$(pjsua_inputs_sha)
  if [[ -x "$BUILD/bin/pjsua" && "$(cat "$BUILD/bin/.config_site.sha256" 2>/dev/null)" == "$want_cfg" ]]; then
    log "pjsua: $BUILD/bin/pjsua already built"; return
  fi
  if [[ ! -x "$BUILD/bin/pjsua" ]] && command -v pjsua >/dev/null 2>&1; then
    log "pjsua: using $(command -v pjsua) from PATH"; return
  fi
  local tarball="${PJPROJECT_TARBALL:-}"
  [[ -n "$tarball" ]] || tarball=$(fetch_pjproject_tarball)
  log "building pjsua from $tarball (about 2-3 minutes on 2 cores)"
  local src="$BUILD/pjproject"
  rm -rf "$src" "$BUILD/patch.log" && mkdir -p "$src"
  tar -xf "$tarball" -C "$src" --strip-components=1
  # Debian strips this non-free file; its content is compiled out anyway.
  [[ -f "$src/pjmedia/src/pjmedia-audiodev/bdimad_dev.c" ]] || : >"$src/pjmedia/src/pjmedia-audiodev/bdimad_dev.c"
  cp "$ROOT/scripts/pjsua-config_site.h" "$src/pjlib/include/pj/config_site.h"
  apply_pjsua_patches "$src"
  (
    cd "$src"
    ./configure --with-external-srtp --with-external-gsm --with-external-speex \
      --enable-speex-resample --enable-epoll --disable-video --disable-libyuv \
      --disable-libwebrtc --disable-g7221-codec --disable-ilbc-codec --disable-sound \
      --disable-upnp --disable-opencore-amr --disable-silk --disable-bcg729 \
      --disable-sdl --disable-ffmpeg --disable-v4l2 --disable-openh264 \
      CFLAGS="-O2 -fPIC" >"$BUILD/configure.log" 2>&1
    make dep >"$BUILD/make-dep.log" 2>&1
    make -j"$(nproc)" >"$BUILD/make.log" 2>&1
  ) || { log "pjsua build failed; see $BUILD/*.log"; tail -n 30 "$BUILD/make.log" 2>/dev/null >&2; exit 1; }
  local bin
  bin=$(ls "$src"/pjsip-apps/bin/pjsua-* | head -n1)
  mkdir -p "$BUILD/bin"
  install -m 0755 "$bin" "$BUILD/bin/pjsua"
  printf '%s\n' "$want_cfg" >"$BUILD/bin/.config_site.sha256"
  log "pjsua built: $BUILD/bin/pjsua"
}

make_venv() {
  local stamp="$VENV/.callgen-stamp"
  local want
  want=$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$VENV/bin/callgen" ]]; then
    log "virtualenv: .venv up to date"; return
  fi
  log "creating virtualenv .venv"
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install -q -e "$ROOT[test]"
  printf '%s\n' "$want" >"$stamp"
}

case "${1:-}" in  # for tests/core/test_setup_patches.py: the patch series on its own
  apply-patches) apply_pjsua_patches "$2" "$3"; exit 0 ;;
  inputs-sha) pjsua_inputs_sha; exit 0 ;;
esac
if [[ "${1:-}" == venv ]]; then  # make venv / test-unit / lint: no root, no packages, no pjsua build
  make_venv
  exit 0
fi
install_debs
build_pjsua
make_venv
log "ready"

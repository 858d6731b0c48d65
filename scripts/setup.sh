#!/usr/bin/env bash
# Installs what `trace` and its tests need on Debian/Ubuntu. Idempotent: quick when all is present.
#   bpftrace (the distribution's) and, where that is older than 0.20, bpftrace 0.23 from Debian
#   trixie unpacked into a private prefix (never installed over the system's libraries);
#   podman + runc (test containers), containerd (its ctr; the tests start a private daemon),
#   golang-go (demo services; grpc for a probes/ test), wrk (load), tmux, openssh and sudo (SSH
#   test hosts; the helper's sudo rule), kubectl and openssl (Kubernetes targets, against a
#   recorded API).
# Env: TRACE_PREFIX (default /opt/ctrace), SETUP_QUIET=1.
set -euo pipefail

PREFIX=${TRACE_PREFIX:-/opt/ctrace}
BPF_PREFIX="$PREFIX/bpftrace-trixie"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

log() { echo "setup: $*" >&2; }

need_pkgs=()
for p in bpftrace podman runc containerd golang-go golang-google-grpc-dev wrk tmux openssh-server openssh-client iproute2 uidmap sudo; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need_pkgs+=("$p")
done
# Kubernetes targets are looked up through kubectl (any package's; Debian's is kubernetes-client);
# their tests serve the API over HTTPS with a certificate made by openssl.
command -v kubectl >/dev/null 2>&1 || need_pkgs+=(kubernetes-client)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)

updated=0
apt_update() { if [ $updated -eq 0 ]; then log "apt-get update"; $SUDO apt-get update -qq; updated=1; fi; }

if [ ${#need_pkgs[@]} -gt 0 ]; then
  apt_update
  log "installing ${need_pkgs[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# The distribution's bpftrace version: 0.17 on Debian 12 cannot attach uprobes at offsets.
sys_ver=$(bpftrace --version 2>/dev/null | sed -n 's/^bpftrace v\{0,1\}\([0-9.]*\).*/\1/p')
older() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$1" ] && [ "$1" != "$2" ]; }

if older "${sys_ver:-0}" "0.20" && [ ! -x "$PREFIX/bin/bpftrace" ]; then
  log "system bpftrace is ${sys_ver:-missing}; unpacking bpftrace from Debian trixie into $BPF_PREFIX"
  src=/etc/apt/sources.list.d/ctrace-trixie.sources
  if [ ! -f "$src" ]; then
    uri=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
    key=$(sed -n 's/^Signed-By: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
    $SUDO tee "$src" >/dev/null <<SRC
Types: deb
URIs: ${uri:-http://deb.debian.org/debian}
Suites: trixie
Components: main
Signed-By: ${key:-/usr/share/keyrings/debian-archive-keyring.gpg}
SRC
    $SUDO tee /etc/apt/preferences.d/ctrace-trixie >/dev/null <<PIN
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
    updated=0
  fi
  apt_update
  dl=$(mktemp -d)
  (cd "$dl" && apt-get download -qq -t trixie bpftrace libbpf1 libbpfcc libc6 libclang1-19 \
     libclang-cpp19 libelf1t64 libgcc-s1 libllvm19 libsframe1 libstdc++6 libzstd1 zlib1g \
     libedit2 libffi8 libxml2 libz3-4 libbsd0 libmd0 libtinfo6 libicu76 liblzma5 >/dev/null)
  $SUDO mkdir -p "$BPF_PREFIX" "$PREFIX/bin"
  for deb in "$dl"/*.deb; do $SUDO dpkg -x "$deb" "$BPF_PREFIX"; done
  rm -rf "$dl"
  # exec keeps the PID, so signals and kills reach bpftrace itself.
  $SUDO tee "$PREFIX/bin/bpftrace" >/dev/null <<WRAP
#!/bin/sh
P="$BPF_PREFIX"
exec "\$P/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "\$P/usr/lib/x86_64-linux-gnu:\$P/lib/x86_64-linux-gnu" "\$P/usr/bin/bpftrace" "\$@"
WRAP
  $SUDO chmod 755 "$PREFIX/bin/bpftrace"
fi

if [ -x "$PREFIX/bin/bpftrace" ]; then
  log "bpftrace: system $(bpftrace --version 2>/dev/null | head -1); private $("$PREFIX/bin/bpftrace" --version 2>/dev/null | head -1)"
else
  log "bpftrace: $(bpftrace --version 2>/dev/null | head -1)"
fi

# bpftrace reads tracepoint formats from tracefs; some hosts boot without it mounted.
if [ ! -e /sys/kernel/tracing/events ]; then
  log "mounting tracefs at /sys/kernel/tracing"
  $SUDO mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || log "could not mount tracefs: tracepoints will not work"
fi
[ -e /sys/kernel/debug/tracing ] || $SUDO mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true

# Node dependencies of the project itself.
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$here/package.json" ]; then
  if [ ! -d "$here/node_modules" ] || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    log "installing npm dependencies"
    # npm ci when the lock file is complete; some npm versions write locks without other
    # platforms' optional packages (rollup, esbuild), which npm ci then refuses.
    (cd "$here" && { npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 || npm install --no-audit --no-fund --loglevel=error >/dev/null; })
  fi
  if [ ! -f "$here/dist/cli.js" ] || [ -n "$(find "$here/src" -newer "$here/dist/cli.js" -name '*.ts' -print -quit)" ]; then
    log "building"
    (cd "$here" && node scripts/build.mjs)
  fi
fi
log "ready"

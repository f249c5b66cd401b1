#!/usr/bin/env bash
# `make image`: build the project's image (IMAGE, voicelens:dev) from the Dockerfile with the
# machine's container engine: docker when its daemon answers, podman otherwise.
#
# With podman, whatever is missing is installed and configured first (Debian: podman, buildah,
# runc, mmdebstrap; runtime runc, cgroupfs, explicit nofile/nproc limits). Where no image
# registry can be reached, the Python base is made locally: mmdebstrap builds a Debian bookworm
# root file system with Python 3.11, `podman import` tags it, and the Dockerfile gets it as its
# PYTHON_IMAGE build argument (elsewhere the Dockerfile's default, python:3.11-slim-bookworm).
# The base is built once and kept, in the engine's store and as .cache/image/*.tar.
#
# Environment: IMAGE (voicelens:dev), IMAGE_EXTRAS ("" or "report": the report's scipy and
# matplotlib), PYTHON_IMAGE (skip the local base), CONTAINER_ENGINE (docker|podman),
# DEBIAN_MIRROR (the mirror apt uses here, else deb.debian.org), VOICELENS_CACHE.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${VOICELENS_CACHE:-$root/.cache}/image
image=${IMAGE:-voicelens:dev}
extras=${IMAGE_EXTRAS:-}
base_tag=localhost/voicelens-python:3.11-bookworm

log() { printf 'image: %s\n' "$*" >&2; }
as_root() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }

pick_engine() {
  if [[ -n ${CONTAINER_ENGINE:-} ]]; then echo "$CONTAINER_ENGINE"; return; fi
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then echo docker; return; fi
  echo podman
}

install_podman() {
  local want=() cmd
  for cmd in podman buildah runc mmdebstrap; do command -v "$cmd" >/dev/null || want+=("$cmd"); done
  ((${#want[@]})) || return 0
  command -v apt-get >/dev/null || { log "missing ${want[*]} and no apt-get: install them first"; exit 1; }
  log "installing ${want[*]} (Debian packages)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${want[@]}" uidmap fuse-overlayfs >/dev/null ||
    { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${want[@]}" uidmap fuse-overlayfs >/dev/null; }
}

# runc rather than crun, cgroupfs rather than systemd (no systemd manages this machine's
# cgroups), and explicit nofile/nproc limits this machine can grant: the engine's defaults ask
# for more (nofile above the hard limit; nproc above kernel.pid_max, which is pointless anyway),
# and without CAP_SYS_RESOURCE runc then fails with "error setting rlimit". A drop-in, so the
# package's own containers.conf stays as it is.
configure_podman() {
  local conf=/etc/containers/containers.conf.d/50-voicelens.conf want nofile nproc pid_max
  nofile=$(ulimit -Hn); [[ $nofile == unlimited || $nofile -gt 65536 ]] && nofile=65536
  nproc=$(ulimit -Hu); pid_max=$(cat /proc/sys/kernel/pid_max)
  [[ $nproc == unlimited || $nproc -gt $pid_max ]] && nproc=$pid_max
  want=$(cat <<CONF
# Written by the VoiceLens \`make image\` (deploy/image/build.sh).
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
)
  [[ -f $conf && $(cat "$conf") == "$want" ]] && return 0
  log "configuring podman in $conf"
  as_root mkdir -p "$(dirname "$conf")"
  printf '%s\n' "$want" | as_root tee "$conf" >/dev/null
}

registry_reachable() {
  # A HEAD to the registry's API root: 401 (auth needed) means reachable.
  curl -s -o /dev/null -m 5 -w '%{http_code}' https://registry-1.docker.io/v2/ 2>/dev/null | grep -q '^[24]'
}

debian_mirror() {
  if [[ -n ${DEBIAN_MIRROR:-} ]]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri
  uri=$(grep -rhoE '^URIs: *[^ ]+/debian$|^deb +[^ ]+/debian +' /etc/apt/sources.list.d /etc/apt/sources.list 2>/dev/null |
    head -n 1 | awk '{print $2}') || true
  echo "${uri:-http://deb.debian.org/debian}"
}

local_base() {
  local engine=$1 tar=$cache/python-3.11-bookworm.tar
  if "$engine" image exists "$base_tag" 2>/dev/null; then echo "$base_tag"; return; fi
  mkdir -p "$cache"
  if [[ ! -s $tar ]]; then
    log "building the Python 3.11 base (Debian bookworm, mmdebstrap) into $tar"
    # minbase + what python:3.11-slim offers the Dockerfile: python (with venv/ensurepip),
    # CA certificates, and useradd/groupadd.
    as_root mmdebstrap --quiet --variant=minbase \
      --include=python3.11,python3.11-venv,python-is-python3,ca-certificates,passwd \
      --aptopt='Acquire::Check-Valid-Until "false"' \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
      --format=tar bookworm "$cache/partial.tar" "$(debian_mirror)" >&2
    mv "$cache/partial.tar" "$tar"
  fi
  "$engine" import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' "$tar" "$base_tag" >/dev/null
  echo "$base_tag"
}

main() {
  local engine args=() base
  engine=$(pick_engine)
  if [[ $engine == podman ]]; then install_podman; configure_podman; fi
  command -v "$engine" >/dev/null || { log "no container engine ($engine) found"; exit 1; }
  base=${PYTHON_IMAGE:-}
  if [[ -z $base ]] && ! registry_reachable; then base=$(local_base "$engine"); fi
  [[ -n $base ]] && args+=(--build-arg "PYTHON_IMAGE=$base")
  [[ -n $extras ]] && args+=(--build-arg "EXTRAS=$extras")
  if [[ $engine == podman ]]; then
    # docker format keeps HEALTHCHECK (OCI images have no such field); the machine's CA bundle
    # and pip configuration let pip reach PyPI through this network's TLS inspection.
    args+=(--format docker --network host)
    [[ $base == localhost/* ]] && args+=(--pull=never)
    [[ -f /etc/ssl/certs/ca-certificates.crt ]] &&
      args+=(--volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
    [[ -f /etc/pip.conf ]] && args+=(--volume /etc/pip.conf:/etc/pip.conf:ro)
  fi
  log "building $image with $engine${base:+ on $base}"
  "$engine" build "${args[@]}" -t "$image" "$root"
  log "built $image: $("$engine" image inspect --format '{{.Size}}' "$image") bytes"
}

main "$@"

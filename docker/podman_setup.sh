#!/usr/bin/env bash
# Podman as the container engine on a Debian bookworm machine of this project's kind (2 cores,
# running as root inside a sandbox, no container registry reachable), as the team measured it:
#
#   1. apt-get install podman buildah runc debootstrap
#   2. containers.conf: runc, cgroupfs, file events, nofile/nproc ulimits of 1024;
#      storage.conf: the vfs driver (no overlay inside the sandbox)
#   3. a local base image, since nothing can be pulled: debootstrap --variant=minbase bookworm with
#      python3, python3-venv, python3-pip and ca-certificates, imported with `podman import`
#   4. `podman system service` on a unix socket, so the Docker CLI (/usr/local/bin/docker) talks to
#      podman through DOCKER_HOST
#
# Disk: vfs keeps a full copy of the tree per layer, so the training image (three layers above
# its ~200 MB base: dependencies, project files, install) takes ~8 GB, a code change rebuilds the
# top two (~5 GB more until the old image is removed; G10 removes the image it built before), and
# every running container another ~2.4 GB: keep ~15 GB free under /var/lib/containers.
# Measured here (2 cores, shared): this script ~100 s (apt 22 s, debootstrap + import 75 s).
#
# It prints the lines to paste into a shell, among them `export DOCKER_HOST=unix://...` and the
# build command for docker/Dockerfile. Every step is skipped when already done (rerunnable), and
# each step's wall time is printed, and written to $STATE_DIR/timings.txt.
#
# Environment (all optional):
#   BASE_IMAGE   tag of the local base image            (default localhost/canvas-base:bookworm)
#   SOCKET       path of the API socket                 (default /run/podman/podman.sock)
#   STATE_DIR    rootfs, logs, timings                  (default /var/tmp/canvas-podman)
#   CA_BUNDLE    the host's CA bundle                   (default /etc/ssl/certs/ca-certificates.crt)
#   DEBIAN_MIRROR                                       (default http://deb.debian.org/debian)
#   BAKE_HOST_CA=1 (default) also installs the host's extra CAs (/usr/local/share/ca-certificates)
#                into the base image: pip inside a build then works without a build secret, which
#                matters because the Docker CLI here has no BuildKit (no buildx) and so cannot pass
#                `--secret` to podman's API. `podman build --secret id=ca,src=$CA_BUNDLE` works
#                with any base. Set BAKE_HOST_CA=0 for a base image with Debian's CAs only.
#   SKIP_SERVICE=1 does not start the API socket.
set -euo pipefail

BASE_IMAGE=${BASE_IMAGE:-localhost/canvas-base:bookworm}
SOCKET=${SOCKET:-/run/podman/podman.sock}
STATE_DIR=${STATE_DIR:-/var/tmp/canvas-podman}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BAKE_HOST_CA=${BAKE_HOST_CA:-1}
SKIP_SERVICE=${SKIP_SERVICE:-0}

if [ "$(id -u)" -ne 0 ]; then
  echo "podman_setup.sh: run as root (apt-get, debootstrap and /etc/containers need it)" >&2
  exit 1
fi

mkdir -p "$STATE_DIR"
TIMINGS="$STATE_DIR/timings.txt"
: >"$TIMINGS"
step_start=0
begin() {
  step_start=$(date +%s)
  echo "== $1"
}
end() {
  local took=$(($(date +%s) - step_start))
  echo "   $1: ${took}s" | tee -a "$TIMINGS"
}
total_start=$(date +%s)

# 1. packages -----------------------------------------------------------------------------------
begin "packages: podman buildah runc debootstrap"
missing=()
for cmd in podman buildah runc debootstrap; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq podman buildah runc debootstrap >"$STATE_DIR/apt.log" 2>&1 || {
    tail -20 "$STATE_DIR/apt.log" >&2
    exit 1
  }
fi
podman --version
end "packages"

# 2. configuration ------------------------------------------------------------------------------
begin "configuration: /etc/containers/containers.conf, storage.conf"
mkdir -p /etc/containers
cat >/etc/containers/containers.conf <<'EOF'
# written by docker/podman_setup.sh (canvas_pipeline)
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
cat >/etc/containers/storage.conf <<'EOF'
# written by docker/podman_setup.sh (canvas_pipeline)
[storage]
driver = "vfs"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
EOF
# Nothing can be pulled here: unqualified names resolve to localhost only, never to a registry.
if [ ! -f /etc/containers/registries.conf.d/90-canvas-local.conf ]; then
  mkdir -p /etc/containers/registries.conf.d
  printf '# written by docker/podman_setup.sh\nunqualified-search-registries = ["localhost"]\n' \
    >/etc/containers/registries.conf.d/90-canvas-local.conf
fi
podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}} {{.Store.GraphDriverName}}'
end "configuration"

# 3. base image ---------------------------------------------------------------------------------
begin "base image $BASE_IMAGE (debootstrap --variant=minbase bookworm)"
if podman image exists "$BASE_IMAGE"; then
  echo "   $BASE_IMAGE exists: kept (podman rmi $BASE_IMAGE to rebuild)"
else
  rootfs="$STATE_DIR/rootfs"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$rootfs" "$DEBIAN_MIRROR" >"$STATE_DIR/debootstrap.log" 2>&1 || {
    tail -20 "$STATE_DIR/debootstrap.log" >&2
    exit 1
  }
  if [ "$BAKE_HOST_CA" = "1" ] && compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null
  fi
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
  tar -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
fi
podman run --rm --network none "$BASE_IMAGE" python3 --version
end "base image"

# 4. API socket for the Docker CLI --------------------------------------------------------------
if [ "$SKIP_SERVICE" != "1" ]; then
  begin "podman system service on unix://$SOCKET"
  mkdir -p "$(dirname "$SOCKET")"
  if ! DOCKER_HOST="unix://$SOCKET" timeout 10 docker info >/dev/null 2>&1; then
    rm -f "$SOCKET"
    nohup podman system service --time=0 "unix://$SOCKET" >"$STATE_DIR/service.log" 2>&1 &
    echo $! >"$STATE_DIR/service.pid"
    for _ in $(seq 1 60); do
      [ -S "$SOCKET" ] && break
      sleep 0.5
    done
  fi
  if command -v docker >/dev/null 2>&1; then
    DOCKER_HOST="unix://$SOCKET" docker version --format 'docker CLI {{.Client.Version}} -> {{.Server.Version}}'
  fi
  end "service"
fi

echo "   total: $(($(date +%s) - total_start))s" | tee -a "$TIMINGS"
cat <<EOF

# Paste into your shell:
export DOCKER_HOST=unix://$SOCKET
export CANVAS_G10_BASE_IMAGE=$BASE_IMAGE
# G10 layer (b) (canvas-train check, the G10 tests) then builds and runs the training image:
#   .venv/bin/python -m pytest canvas_pipeline_tests/test_g10.py
#   CANVAS_G10_ENGINE=on .venv/bin/canvas-train check --data-dir out --no-g9
# By hand, with the Docker CLI (no build secrets: the base image trusts the host CA):
#   docker build --network host --build-arg BASE_IMAGE=$BASE_IMAGE -f docker/Dockerfile -t canvas-train:local .
#   docker run --rm --network none canvas-train:local --help
# Or with podman, where pip gets the host CA as a build secret (works with any base):
#   podman build --network host --secret id=ca,src=$CA_BUNDLE --build-arg BASE_IMAGE=$BASE_IMAGE \\
#     -f docker/Dockerfile -t canvas-train:local .
EOF

#!/usr/bin/env bash
# Build a minimal Debian bookworm image with python3 + venv, for machines where no
# image registry is reachable (so python:3.12-slim cannot be pulled).
#
# Usage: docker/build-base-image.sh [IMAGE_NAME]     (default: cepo-base:bookworm)
#
# Contract:
#   - does nothing when IMAGE_NAME already exists (the image is a cache);
#   - needs root, debootstrap and a reachable Debian mirror (DEBIAN_MIRROR overrides);
#   - copies the host's extra CA certificates (/usr/local/share/ca-certificates/*.crt)
#     into the image, so pip inside `docker build` trusts the same TLS as the host;
#   - the image has python3 but no pip for the system python: the Dockerfile makes a
#     venv (python3 -m venv) and installs into that.
set -euo pipefail

IMAGE="${1:-cepo-base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE="${DEBIAN_SUITE:-bookworm}"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "base image $IMAGE exists; skipping debootstrap"
    exit 0
fi
command -v debootstrap >/dev/null || {
    echo "debootstrap missing: apt-get install debootstrap" >&2
    exit 1
}

ROOTFS="$(mktemp -d /tmp/cepo-rootfs.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT

echo "debootstrap $SUITE into $ROOTFS (a few minutes)"
debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates \
    "$SUITE" "$ROOTFS" "$MIRROR" >/tmp/cepo-debootstrap.log 2>&1 || {
    echo "debootstrap failed; log: /tmp/cepo-debootstrap.log" >&2
    tail -20 /tmp/cepo-debootstrap.log >&2
    exit 1
}

shopt -s nullglob
extra_cas=(/usr/local/share/ca-certificates/*.crt)
if ((${#extra_cas[@]})); then
    cp "${extra_cas[@]}" "$ROOTFS/usr/local/share/ca-certificates/"
    chroot "$ROOTFS" update-ca-certificates >/dev/null
    echo "added ${#extra_cas[@]} host CA certificate(s) to the image"
fi

# Package lists and docs are not needed at run time.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin \
    "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/*

# PIP_CERT / SSL_CERT_FILE make pip and Python use the system bundle (which now holds
# the host's CAs) rather than a vendored certifi bundle.
tar -C "$ROOTFS" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["python3"]' \
    - "$IMAGE" >/dev/null
echo "built base image $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE") bytes)"

#!/usr/bin/env bash
# Make a local Debian base image (no registry is reachable from the CI machines) once:
# debootstrap a minimal bookworm, add the host's extra CA certificates (HTTPS to the package
# registries may be re-signed by a local CA that the host trusts) and import it into podman's
# store. Reused when present, so only the first run pays (~1-2 min).
#
#   deploy/container/base-image.sh [IMAGE]     (default localhost/dynopypi-base:bookworm)
#
# Needs root, podman and debootstrap. MIRROR and SUITE may be set in the environment.
set -euo pipefail

image="${1:-localhost/dynopypi-base:bookworm}"
suite="${SUITE:-bookworm}"
if podman image exists "$image"; then
    echo "base image $image: present, reused"
    exit 0
fi

mirror="${MIRROR:-}"
if [ -z "$mirror" ]; then  # the host's own Debian mirror, else the public one
    mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' \
        /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    mirror="${mirror:-http://deb.debian.org/debian}"
fi

rootfs=$(mktemp -d /var/tmp/dynopypi-base.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "base image $image: debootstrap $suite from $mirror"
debootstrap --variant=minbase --include=ca-certificates "$suite" "$rootfs" "$mirror" >/dev/null

# the host's local CAs (if any), trusted inside the image too
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null
fi
# a small image: no apt lists, docs or caches (the Containerfile runs apt-get update)
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
tar -C "$rootfs" -c . | podman import --quiet - "$image" >/dev/null
echo "base image $image: imported"

#!/usr/bin/env bash
# Build a systemd-booting Debian image for the Molecule scenarios, from Debian's own packages.
# Usage: build-image.sh SUITE [minimal]   (bookworm or trixie)
# The test image carries what the scenarios use (python3-apt, a compiler, bpftool); the minimal one
# only what a host as it comes has (systemd, Python, iproute2, procps), for the compatibility stage.
# The image is rebuilt only when its recipe (this script and the package list) changes: the
# recipe's hash is stored as a label on the image and compared on every run.
set -euo pipefail

suite=${1:?usage: build-image.sh SUITE [minimal]}
flavour=${2:-}
case "$suite" in
  bookworm | trixie) ;;
  *) echo "build-image.sh: unknown suite '$suite' (allowed: bookworm, trixie)" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
case "$flavour" in
  '')
    image="localhost/linuxnet-keepalive-debian:$suite"
    packages=systemd,systemd-sysv,python3,python3-apt,iproute2,procps,gcc,libc6-dev,bpftool ;;
  minimal)
    image="localhost/linuxnet-keepalive-debian:$suite-minimal"
    packages=systemd,systemd-sysv,python3,iproute2,procps ;;
  *) echo "build-image.sh: unknown flavour '$flavour' (allowed: minimal)" >&2; exit 2 ;;
esac
recipe=$( { cat "$0"; echo "$suite $flavour $packages"; } | sha256sum | cut -c1-16)

current=$(podman image inspect --format '{{ index .Labels "linuxnet.recipe" }}' "$image" 2>/dev/null || true)
if [ "$current" = "$recipe" ]; then
  echo "image $image is up to date (recipe $recipe)"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/keepalive-rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

echo "building $image (recipe $recipe) with debootstrap"
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}

# A container has no kernel modules to load; without this mask trixie boots "degraded".
systemctl --root="$rootfs" mask systemd-modules-load.service >/dev/null 2>&1
# No getty on a console nobody reads, no network wait in a container.
systemctl --root="$rootfs" mask getty@tty1.service console-getty.service >/dev/null 2>&1 || true
# A cgroup2-only /sys/fs/cgroup, as on a stock Debian 12 or 13 host, for containers started with
# --cgroupns=private and this as their command. On a hybrid host Podman gives a container the host's
# layout (v1 controllers, cgroup2 under /sys/fs/cgroup/unified), where systemd ignores BPFProgram=.
# In its own cgroup namespace the container's group is its cgroup2 root, so mounting cgroup2 over
# /sys/fs/cgroup shows it just that; without a namespace of its own nothing is remounted.
cat >"$rootfs/usr/local/sbin/init-cgroup2" <<'INIT'
#!/bin/sh
if [ "$(sed -n 's/^0:://p' /proc/self/cgroup)" = / ] && [ ! -e /sys/fs/cgroup/cgroup.controllers ]; then
  umount -R /sys/fs/cgroup && mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate cgroup2 /sys/fs/cgroup
fi
exec /sbin/init "$@"
INIT
chmod 0755 "$rootfs/usr/local/sbin/init-cgroup2"
# Keep the image small and reproducible.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
: >"$rootfs/etc/machine-id"

tar -C "$rootfs" -c . | podman import \
  --change 'CMD ["/sbin/init"]' \
  --change "LABEL linuxnet.recipe=$recipe" \
  --change 'STOPSIGNAL SIGRTMIN+3' \
  - "$image" >/dev/null
# The image this replaced, now without a name, is removed.
podman image prune -f --filter label=linuxnet.recipe >/dev/null 2>&1 || true
echo "built $image"

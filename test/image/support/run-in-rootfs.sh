#!/bin/sh
# Runs a command from an image's mounted root filesystem the way a container runtime would, for
# machines where `podman run` fails (crun's setrlimit): in a private mount namespace (start this
# script under `unshare --mount --propagation private`), the root filesystem bound read-only,
# /dev, /proc and /etc/hosts from the host, the given volumes bound read-write at their own paths,
# then the command exec'd as the image's user with no supplementary groups and the image's env.
#
#   run-in-rootfs.sh ROOTFS UID:GID [--volume DIR]... [--env NAME=VALUE]... -- COMMAND [ARG]...
#
# Volumes are chowned to UID:GID first, as kubelet does for an emptyDir with fsGroup. Mount
# points are made in ROOTFS, which must be a working container's own layer (buildah mount),
# never an image's.
set -eu
rootfs=$1
user=$2
shift 2
volumes=""
envs=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --volume) volumes="$volumes $2"; shift 2 ;;
    --env) envs="$envs $2"; shift 2 ;;
    --) shift; break ;;
    *) echo "run-in-rootfs: unknown argument $1" >&2; exit 2 ;;
  esac
done
uid=${user%%:*}
gid=${user#*:}

mkdir -p "$rootfs/dev" "$rootfs/proc"
[ -e "$rootfs/etc/hosts" ] || : >"$rootfs/etc/hosts"
for volume in $volumes; do mkdir -p "$rootfs$volume"; done

root=$(mktemp -d)
mount --bind "$rootfs" "$root"
mount --rbind /dev "$root/dev"
mount -t proc proc "$root/proc"
mount --bind /etc/hosts "$root/etc/hosts"
for volume in $volumes; do
  chown -R "$uid:$gid" "$volume"
  mount --bind "$volume" "$root$volume"
done
# Only the root mount turns read-only; the volumes below it stay writable.
mount -o remount,bind,ro "$root"

# shellcheck disable=SC2086 # word splitting of the NAME=VALUE list is intended
exec env -i $envs unshare --root="$root" --wd=/ --setuid "$uid" --setgid "$gid" -- "$@"

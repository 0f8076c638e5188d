#!/usr/bin/env bash
# scripts/debian13-root.sh DIR: a minimal Debian 13 (trixie) tree at DIR with
# gdb, gdbserver and libc6-dbg, so the tests can drive gdb 16.3 and
# gdbserver 16.3 on a host that has older ones. Nothing runs chrooted in it:
# the tools run through the tree's own loader (test/gdbsock/debian13.ts).
#
# The tree is built beside DIR and renamed to DIR only when complete, so a
# half-built tree is never taken for one. Nothing is ever bind-mounted into
# it; debootstrap mounts /proc inside it while it configures packages and
# unmounts it when done; a tree that still has anything mounted is left alone,
# never deleted.
#
# Environment: DEBIAN13_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

if (($# != 1)); then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$(realpath -m -- "$1")
mirror=${DEBIAN13_MIRROR:-http://deb.debian.org/debian}

if [[ -e $dir ]]; then
  echo "debian13-root: $dir exists already" >&2
  exit 1
fi
if ((EUID != 0)); then
  echo "debian13-root: debootstrap needs root" >&2
  exit 1
fi
command -v debootstrap >/dev/null || {
  echo "debian13-root: debootstrap is not installed (apt-get install debootstrap)" >&2
  exit 1
}

mkdir -p -- "$(dirname -- "$dir")"
partial=$(mktemp -d -- "$dir.partial.XXXXXX")

# Anything mounted at or below the partial tree (/proc/self/mounts escapes spaces as \040).
mounts_below() {
  awk -v root="$partial" '{ gsub(/\\040/, " ", $2); if ($2 == root || index($2, root "/") == 1) print $2 }' /proc/self/mounts
}

finish() {
  local status=$?
  if [[ -d $partial ]]; then
    if [[ -n $(mounts_below) ]]; then
      echo "debian13-root: $partial still has mounts; left as it is (unmount them, then remove it):" >&2
      mounts_below >&2
    else
      rm -rf --one-file-system -- "$partial"
    fi
  fi
  exit "$status"
}
trap finish EXIT

started=$SECONDS
debootstrap --variant=minbase --include=gdb,gdbserver,libc6-dbg trixie "$partial" "$mirror"

if [[ -n $(mounts_below) ]]; then
  echo "debian13-root: debootstrap left mounts in $partial:" >&2
  mounts_below >&2
  exit 1
fi
# The tools the tests run must be there, and run through the tree's loader.
root=$partial
for tool in usr/bin/gdb usr/bin/gdbserver lib64/ld-linux-x86-64.so.2; do
  [[ -e $root/$tool ]] || {
    echo "debian13-root: $tool is missing from the tree" >&2
    exit 1
  }
done
PYTHONHOME=$root/usr "$root/lib64/ld-linux-x86-64.so.2" --library-path "$root/lib/x86_64-linux-gnu:$root/usr/lib/x86_64-linux-gnu" \
  "$root/usr/bin/gdb" -nx -batch -data-directory "$root/usr/share/gdb" -ex 'python print("python ok")' -ex 'show version' | head -2

mv -T -- "$partial" "$dir"
echo "debian13-root: $dir ready in $((SECONDS - started)) s"

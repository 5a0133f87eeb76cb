#!/usr/bin/env bash
# The README's two commands on a truly fresh Debian bookworm: a minimal chroot built with
# debootstrap from Debian's package registry, the Rust toolchain bind-mounted read-only,
# a clean clone of this repository copied in. Whatever .ci/deps forgets to install fails
# here (as libprotobuf-dev once did). Needs root and debootstrap (installed if missing).
#
#   sudo tests/fresh-machine.sh            # both commands
#   sudo tests/fresh-machine.sh ci         # only .ci/run
#
# Prints the time of each command; exits non-zero if one fails. The chroot is kept in
# /var/tmp/etcdflow-fresh (removed first on every run).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
what=${1:-both}
root=/var/tmp/etcdflow-fresh
[ "$(id -u)" = 0 ] || { echo "fresh-machine: needs root" >&2; exit 2; }
command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }

rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
cargo_bin=$(dirname "$(command -v cargo)")
[ -d "$rustup_home" ] || { echo "fresh-machine: no Rust toolchain at $rustup_home" >&2; exit 2; }

cleanup() {
  mountpoint -q "$root" 2>/dev/null && umount -lR "$root" || true
}
trap cleanup EXIT
cleanup
rm -rf "$root"
t0=$(date +%s)
debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >/tmp/etcdflow-fresh-debootstrap.log 2>&1 \
  || { tail -20 /tmp/etcdflow-fresh-debootstrap.log >&2; exit 1; }
echo "fresh-machine: debootstrap $(( $(date +%s) - t0 )) s"
# The chroot's / must be a mount point of its own, as a machine's is (the sandbox makes
# its mounts slave/private there).
mount --bind "$root" "$root"
mount --make-private "$root"
mkdir -p "$root/opt/rustup" "$root/opt/cargo-bin" "$root/src"
mount --bind -o ro "$rustup_home" "$root/opt/rustup"
mount -o remount,bind,ro "$root/opt/rustup"
mount --bind -o ro "$cargo_bin" "$root/opt/cargo-bin"
mount -o remount,bind,ro "$root/opt/cargo-bin"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t tmpfs tmpfs "$root/run"
cp /etc/resolv.conf "$root/etc/resolv.conf"
git clone -q "$repo" "$root/src/etcdflow"
# The toolchain needs a C linker; a fresh machine of this project's kind has gcc (see the
# machine description), so it is the only package given before the README's commands.
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
  sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc libc6-dev ca-certificates git >/dev/null'
# This workplace reaches the registries through a TLS proxy whose CA is in the host's
# bundle: the chroot trusts the same CAs as the machine it runs on (CI does too).
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
mkdir -p "$root/usr/local/share/ca-certificates"
cp /etc/ssl/certs/ca-certificates.crt "$root/usr/local/share/ca-certificates/host-bundle.crt"
run_in() {
  chroot "$root" /usr/bin/env -i HOME=/root PATH=/opt/cargo-bin:/usr/sbin:/usr/bin:/sbin:/bin \
    RUSTUP_HOME=/opt/rustup CARGO_HOME=/root/.cargo CI=true TERM=dumb \
    sh -c "cd /src/etcdflow && $1"
}
status=0
if [ "$what" = both ]; then
  t=$(date +%s)
  if run_in "tests/demo.sh" > /tmp/etcdflow-fresh-demo.log 2>&1; then
    echo "fresh-machine: tests/demo.sh passed in $(( $(date +%s) - t )) s"
  else
    echo "fresh-machine: tests/demo.sh FAILED after $(( $(date +%s) - t )) s (log: /tmp/etcdflow-fresh-demo.log)"; status=1
  fi
fi
t=$(date +%s)
if run_in "bash .ci/run" > /tmp/etcdflow-fresh-ci.log 2>&1; then
  echo "fresh-machine: .ci/run passed in $(( $(date +%s) - t )) s ($(grep -E '^test result' /tmp/etcdflow-fresh-ci.log | tail -1))"
else
  echo "fresh-machine: .ci/run FAILED after $(( $(date +%s) - t )) s (log: /tmp/etcdflow-fresh-ci.log)"; status=1
fi
exit $status

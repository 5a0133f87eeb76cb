#!/usr/bin/env bash
# The README's first command. On a Debian/Ubuntu machine with a Rust toolchain: install
# what is missing, build etcdflow, bring up a 3-master ICP sandbox with real etcd, write
# 1,000 keys, take a verified snapshot, change the data (+500 keys, -100 keys), then
#     etcdflow run restore-icp.flow -i <sandbox inventory>
# and show that exactly the snapshot's keys are back. The sandbox stays up to look
# around; `sudo target/release/etcdflow sandbox down --dir .etcdflow/demo` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
as_root=()
[ "$(id -u)" = 0 ] || as_root=(sudo)
t0=$(date +%s)

.ci/deps
cargo build --release --locked
etcdflow=$PWD/target/release/etcdflow
dir=.etcdflow/demo
net=9
"${as_root[@]}" "$etcdflow" sandbox down --dir "$dir" >/dev/null 2>&1 || true
"${as_root[@]}" "$etcdflow" sandbox up --hosts 3 --etcd --dir "$dir" --net "$net"
inv="$dir/inventory"; cfg="$dir/ssh_config"
export ETCDCTL_API=3
ctl=(etcdctl --endpoints "http://10.213.$net.11:2379,http://10.213.$net.12:2379,http://10.213.$net.13:2379")
count() { "${ctl[@]}" get k/ --prefix --keys-only | grep -c . || true; }

echo "demo: writing 1,000 keys"
seq -f 'k/%05g' 1 1000 | xargs -P 8 -I{} "${ctl[@]}" put {} v >/dev/null
echo "demo: taking a verified snapshot with playbooks/snapshot.flow"
snap=$PWD/.etcdflow/demo-snapshot.db
"${as_root[@]}" "$etcdflow" run playbooks/snapshot.flow -i "$inv" -F "$cfg" -e "to=$snap"
echo "demo: changing the data: 500 keys more, 100 keys less"
seq -f 'k/%05g' 1001 1500 | xargs -P 8 -I{} "${ctl[@]}" put {} v >/dev/null
seq -f 'k/%05g' 1 100 | xargs -P 8 -I{} "${ctl[@]}" del {} >/dev/null
echo "demo: $(count) keys before the restore"

echo "demo: etcdflow run restore-icp.flow -i $inv"
"${as_root[@]}" "$etcdflow" run restore-icp.flow -i "$inv" -F "$cfg" -e "snapshot=$snap" --yes

echo "demo: $(count) keys after the restore (the snapshot has 1000)"
"${ctl[@]}" endpoint status -w table
echo "demo: done in $(( $(date +%s) - t0 ))s; the sandbox is still up:"
echo "  sudo $etcdflow sandbox status --dir $dir"
echo "  sudo $etcdflow sandbox down --dir $dir"

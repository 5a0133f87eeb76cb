#!/usr/bin/env bash
# Print a generated flow of about N lines (default 10000) that checks clean: params,
# host sets, a cluster, and steps using every kind of statement.
set -euo pipefail
lines=${1:-10000}
steps=$(( (lines - 20) / 16 ))
cat <<HEAD
## A generated flow for the check benchmark.
flow bench

param data_dir: path = "/var/lib/etcd"
param port: port = 2379
param wait: duration = 5m
param names: list[str] = ["a", "b", "c"]

hosts masters = group("master")
hosts workers = group("worker")?
hosts everyone = masters | workers

cluster main {
  members: masters
  client_port: port
}

HEAD
for i in $(seq 1 "$steps"); do
cat <<STEP
step s$i on everyone serial timeout: wait when: host.name != "skip" {
  let r$i = run ["cat", "{{ data_dir }}/member-$i"] timeout: 30s
  if r$i.rc != 0 and len(names) > 0 {
    log "step $i on {{ host.name }}: {{ trim(r$i.stderr) }}"
  } else {
    assert r$i.ok, "step $i failed on {{ host.name }}"
  }
  for n in names {
    run "echo {{ n }} $i > /tmp/out-$i"
  }
  wait port: port open timeout: 1m
  copy content: "bench $i\n" to: "/etc/bench/$i.txt" mode: "0644"
  rollback {
    run ["rm", "-f", "--", "/etc/bench/$i.txt"]
  }
}
STEP
done
echo
cat <<TAIL
step last on local {
  let m = etcd.members
  assert len(m) == 3, "three members"
}
TAIL

#!/usr/bin/env bash
# Benchmark: 50 trivial steps x N hosts over real SSH against the sandbox, side by side
# with ansible-playbook and the two floors (not a timed test). Needs root.
#   tests/bench/ssh.sh [N...]        default: 3 10; prints a markdown table
# Contenders, each timed as wall time of the whole command, median of 3 runs:
#   etcdflow   `etcdflow run` (connects, runs 50 steps with exit codes, output capture
#              and deadlines, disconnects); its step phase alone is shown in brackets
#   ansible    ansible-playbook, command module, pipelining + ControlPersist, facts off,
#              forks=N (installed into a venv from PyPI when missing)
#   floor A    one new `ssh -S <control socket> host true` channel per step and host
#   floor B    one open remote shell per host fed all 50 steps
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet
ef=$PWD/target/release/etcdflow
work=$(mktemp -d)
trap '"$ef" sandbox down --dir "$work/sbx" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

ansible=$(command -v ansible-playbook || true)
if [ -z "$ansible" ]; then
  if [ ! -x /tmp/ansible-venv/bin/ansible-playbook ]; then
    python3 -m venv /tmp/ansible-venv && /tmp/ansible-venv/bin/pip install -q ansible-core
  fi
  ansible=/tmp/ansible-venv/bin/ansible-playbook
fi

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s%N; }
ms_since() { echo $(( ($(now) - $1) / 1000000 )); }
sec() { awk -v m="$1" 'BEGIN { printf "%.2f", m / 1000 }'; }

{ echo "## 50 trivial steps"; echo "flow bench50"; echo 'hosts all_hosts = group("sandbox")'
  for i in $(seq 1 50); do printf 'step s%d on all_hosts {\n  run ["true"]\n}\n' "$i"; done; } > "$work/b50.flow"
{ echo "- hosts: sandbox"; echo "  gather_facts: false"; echo "  tasks:"
  for i in $(seq 1 50); do printf '    - name: s%d\n      command: "true"\n' "$i"; done; } > "$work/b50.yml"

echo "| hosts | etcdflow (step phase) | ansible-playbook | floor A: ssh channel per step | floor B: one shell per host | Ansible / etcdflow |"
echo "|---|---|---|---|---|---|"
for n in "${@:-3 10}"; do
  for n1 in $n; do
    "$ef" sandbox down --dir "$work/sbx" >/dev/null 2>&1 || true
    "$ef" sandbox up --hosts "$n1" --dir "$work/sbx" --net 9 >/dev/null
    cfg=$work/sbx/ssh_config; inv=$work/sbx/inventory
    addrs=$(awk '/ansible_host=/ {sub("ansible_host=","",$2); print $2}' "$inv")
    # etcdflow
    t_ef=(); t_steps=()
    for _ in 1 2 3; do
      s=$(now); "$ef" run "$work/b50.flow" -i "$inv" -F "$cfg" --forks "$n1" --output json > "$work/ev.json"; t_ef+=("$(ms_since "$s")")
      t_steps+=("$(python3 -c "import json,sys; print(sum(json.loads(l)['ms'] for l in open(sys.argv[1]) if json.loads(l)['event']=='step_done'))" "$work/ev.json")")
    done
    # ansible
    cat > "$work/ansible.cfg" <<CFG
[defaults]
forks = $n1
gathering = explicit
interpreter_python = /usr/bin/python3
stdout_callback = default
[ssh_connection]
pipelining = True
ssh_args = -F $cfg -o ControlMaster=auto -o ControlPersist=60s
control_path_dir = $work/cp
CFG
    t_an=()
    for _ in 1 2 3; do
      s=$(now); ANSIBLE_CONFIG=$work/ansible.cfg "$ansible" -i "$inv" "$work/b50.yml" >/dev/null; t_an+=("$(ms_since "$s")")
    done
    # floors: masters first (not timed), then the channels
    for a in $addrs; do ssh -F "$cfg" -o ControlMaster=yes -o ControlPath="$work/ctl-$a" -fN "$a"; done
    t_a=(); t_b=()
    for _ in 1 2 3; do
      s=$(now)
      for _step in $(seq 1 50); do
        for a in $addrs; do ssh -F "$cfg" -S "$work/ctl-$a" "$a" true & done; wait
      done
      t_a+=("$(ms_since "$s")")
      s=$(now)
      for a in $addrs; do yes true | head -50 | ssh -F "$cfg" -S "$work/ctl-$a" "$a" sh & done; wait
      t_b+=("$(ms_since "$s")")
    done
    for a in $addrs; do ssh -F "$cfg" -S "$work/ctl-$a" -O exit "$a" 2>/dev/null || true; done
    e=$(printf '%s\n' "${t_ef[@]}" | median); st=$(printf '%s\n' "${t_steps[@]}" | median)
    an=$(printf '%s\n' "${t_an[@]}" | median); fa=$(printf '%s\n' "${t_a[@]}" | median); fb=$(printf '%s\n' "${t_b[@]}" | median)
    ratio=$(awk -v a="$an" -v e="$e" 'BEGIN { printf "%.0fx", a / e }')
    echo "| $n1 | $(sec "$e") s ($(sec "$st") s) | $(sec "$an") s | $(sec "$fa") s | $(sec "$fb") s | $ratio |"
    "$ef" sandbox down --dir "$work/sbx" >/dev/null
  done
done

#!/usr/bin/env bash
# etcdflow's rehearsal sandbox: N hosts on this machine, each a network namespace on a
# bridge, with a private mount namespace (overlays over /etc /var /usr/local /opt, its own
# /root and /run), a real sshd whose host key is already in a known_hosts file, and
# optionally a real etcd member. Needs root, iproute2, util-linux, openssh-server, etcd.
#
#   sandbox.sh up DIR N ETCD(0|1) SUBNET_INDEX [PROFILE (icp|kops|domeos|kubeadm)]
#   sandbox.sh down DIR
#   sandbox.sh status DIR
#
# Everything it starts is recorded under DIR (pids, addresses) and `down` removes it all.
set -euo pipefail

cmd=$1
dir=$2

die() { echo "sandbox: $*" >&2; exit 1; }

# The stand-ins for ICP's services, written once per sandbox and installed in each host.
standins() {
  cat > "$1/systemctl" <<'SH'
#!/bin/bash
# etcdflow sandbox stand-in for systemctl: the kubelet and docker units, and the units
# the sandbox profile declares in /etc/etcdflow-sandbox/units: `NAME` (a flag in /run) or
# `NAME: COMMAND` (a service: COMMAND runs in its own session, its pid in /run/NAME.pid;
# `start` fails when it exits within half a second, as a unit that cannot start).
act=$1; unit=${2%.service}
[ "$act" = daemon-reload ] && exit 0
case "$act" in
enable|disable|is-enabled)
  mkdir -p /etc/etcdflow-sandbox/enabled
  case "$act" in
  enable) touch "/etc/etcdflow-sandbox/enabled/$unit" ;;
  disable) rm -f "/etc/etcdflow-sandbox/enabled/$unit" ;;
  *) if [ -e "/etc/etcdflow-sandbox/enabled/$unit" ]; then echo enabled; else echo disabled; exit 1; fi ;;
  esac
  exit 0 ;;
esac
running() { [ -s "/run/$unit.pid" ] && kill -0 "$(cat "/run/$unit.pid")" 2>/dev/null; }
stop_service() {
  if running; then
    p=$(cat "/run/$unit.pid"); kill -TERM -- "-$p" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$p" 2>/dev/null
  fi
  rm -f "/run/$unit.pid"
}
start_service() {
  running && return 0
  rm -f "/run/$unit.pid"
  # The service's own shell writes its pid (setsid may fork), then becomes the service.
  setsid sh -c "echo \$\$ > /run/$unit.pid; $1" </dev/null >>"/var/log/$unit.log" 2>&1 &
  for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "/run/$unit.pid" ] && break; sleep 0.1; done
  sleep 0.5
  if ! running; then
    rm -f "/run/$unit.pid"
    echo "Job for $unit.service failed because the control process exited with error code." >&2
    echo "See \"journalctl -xe\" (here: /var/log/$unit.log) for details." >&2
    exit 1
  fi
}
line=$(grep -E -- "^$unit(:|\$)" /etc/etcdflow-sandbox/units 2>/dev/null | head -n 1)
if [ -n "$unit" ] && [ -n "$line" ]; then
  case "$line" in
  *:*)
    cmd=${line#*: }
    case "$act" in
    start) start_service "$cmd" ;;
    restart) stop_service; start_service "$cmd" ;;
    stop) stop_service ;;
    is-active) if running; then echo active; else echo inactive; exit 3; fi ;;
    *) echo "systemctl (sandbox): cannot $act $unit" >&2; exit 1 ;;
    esac ;;
  *)
    case "$act" in
    start|restart) touch "/run/$unit.active" ;;
    stop) rm -f "/run/$unit.active" ;;
    is-active) if [ -e "/run/$unit.active" ]; then echo active; else echo inactive; exit 3; fi ;;
    *) echo "systemctl (sandbox): cannot $act $unit" >&2; exit 1 ;;
    esac ;;
  esac
  exit 0
fi
case "$unit" in
kubelet)
  case "$act" in
  start|restart) touch /run/kubelet.active ;;
  stop) rm -f /run/kubelet.active ;;
  is-active) if [ -e /run/kubelet.active ]; then echo active; else echo inactive; exit 3; fi ;;
  *) echo "systemctl (sandbox): cannot $act kubelet" >&2; exit 1 ;;
  esac ;;
docker)
  case "$act" in
  restart|stop)
    # Stopping docker stops every container: the kubelet stand-in kills the pods.
    touch /run/docker.restart
    for _ in $(seq 1 300); do [ -e /run/docker.restart ] || exit 0; sleep 0.1; done
    echo "systemctl (sandbox): docker did not stop its containers" >&2; exit 1 ;;
  start) ;;
  is-active) echo active ;;
  *) echo "systemctl (sandbox): cannot $act docker" >&2; exit 1 ;;
  esac ;;
*) echo "systemctl (sandbox): unknown unit $unit" >&2; exit 5 ;;
esac
SH
  cat > "$1/kubelet-standin" <<'SH'
#!/bin/bash
# etcdflow sandbox stand-in for ICP's kubelet: while kubelet is active, runs the static
# pod /etc/cfc/pods/etcd.json (its "command") and stops it when the manifest goes away.
h=$1; pid=
stop() {
  if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  fi
  pid=
}
while :; do
  if [ -e /run/docker.restart ]; then stop; rm -f /run/docker.restart; fi
  if [ -e /run/kubelet.active ]; then
    if [ -e /etc/cfc/pods/etcd.json ]; then
      if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        mapfile -t args < <(tr -d '\n' < /etc/cfc/pods/etcd.json | sed -n 's/.*"command": *\[ *"\(.*\)" *\].*/\1/p' | sed 's/", *"/\n/g')
        if [ "${#args[@]}" -gt 0 ]; then
          echo "kubelet: starting etcd: ${args[*]}"
          setsid "${args[@]}" >>"$h/etcd.log" 2>&1 </dev/null &
          pid=$!; echo "$pid" > "$h/etcd.pid"
          sleep 1
        fi
      fi
    elif [ -n "$pid" ]; then
      echo "kubelet: etcd.json is gone, stopping etcd"; stop
    fi
  fi
  sleep 0.2
done
SH
  chmod 0755 "$1/systemctl" "$1/kubelet-standin"
}

# A static pod manifest for etcd, as ICP's /etc/cfc/pods/etcd.json (client on 2379 and
# on ICP's 4001).
manifest() {
  local i=$1 ip=$2 cluster=$3
  printf '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "etcd", "namespace": "kube-system"},\n'
  printf ' "spec": {"hostNetwork": true, "containers": [{"name": "etcd", "command": ["etcd", "--name", "n%s", "--data-dir", "/var/lib/etcd", "--listen-client-urls", "http://%s:2379,http://%s:4001,http://127.0.0.1:2379", "--advertise-client-urls", "http://%s:2379", "--listen-peer-urls", "http://%s:2380", "--initial-advertise-peer-urls", "http://%s:2380", "--initial-cluster", "%s", "--initial-cluster-token", "etcdflow-sandbox", "--initial-cluster-state", "new"]}]}}\n' "$i" "$ip" "$ip" "$ip" "$ip" "$ip" "$cluster"
}

host_setup() {
  # Runs inside the host's network namespace, in new mount, UTS and PID namespaces (a
  # flow that kills etcd on one host cannot reach another host's or the machine's).
  local i=$1 dir=$2 etcd=$3 cluster=$4 ip=$5 profile=$6 n=$7 net=$8 prefix=$9
  local h="$dir/n$i"
  hostname "n$i"
  mount --make-rprivate /
  # Copies of other hosts' /run/netns mounts keep their namespaces alive: drop them.
  for m in $(awk '$2 ~ "^/run/netns/" {print $2}' /proc/self/mounts); do umount -l "$m" 2>/dev/null || true; done
  local d
  for d in etc var usr/local opt mnt home; do
    [ -d "/$d" ] || continue
    local key=${d//\//_}
    mkdir -p "$h/up/$key" "$h/work/$key"
    mount -t overlay overlay -o "lowerdir=/$d,upperdir=$h/up/$key,workdir=$h/work/$key" "/$d"
  done
  mount -t tmpfs -o mode=0755 tmpfs /run
  mount -t tmpfs -o mode=0700 tmpfs /root
  # Its own /tmp, as a real host has: nothing a test or an attacker puts in the
  # controller's /tmp is visible there, and the other way round. A sandbox directory
  # under /tmp stays visible at its path (sshd's config and keys are there).
  local real
  real=$(realpath "$dir")
  case "$real" in
    /tmp/*)
      mkdir -p /run/ef-sandbox
      mount --bind "$real" /run/ef-sandbox
      mount -t tmpfs -o mode=1777 tmpfs /tmp
      mkdir -p "$real"
      mount --bind /run/ef-sandbox "$real"
      ;;
    *) mount -t tmpfs -o mode=1777 tmpfs /tmp ;;
  esac
  mkdir -p /run/sshd /root/.ssh /etc/cfc/pods /var/lib/etcd /var/lib/kubelet/pods
  # Its own name resolves locally (sudo and others look it up; there is no DNS here).
  printf '127.0.1.1 n%s\n%s n%s\n' "$i" "$ip" "$i" >> /etc/hosts
  cp "$dir/id_ed25519.pub" /root/.ssh/authorized_keys
  chmod 600 /root/.ssh/authorized_keys
  printf '%s\n' "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" > /root/.profile
  # ICP stand-ins: `systemctl` for kubelet and docker, and a kubelet that runs the
  # static pod /etc/cfc/pods/etcd.json (its "command") while kubelet is active.
  install -m 0755 "$dir/bin/systemctl" /usr/local/bin/systemctl
  if [ "$profile" = kops ]; then
    kops_host_setup "$i" "$dir" "$n" "$net" "$prefix"
  elif [ "$profile" = domeos ]; then
    domeos_host_setup "$i" "$dir" "$n" "$prefix"
  elif [ "$profile" = kubeadm ]; then
    kubeadm_host_setup "$i" "$dir" "$n" "$prefix"
  else
    install -m 0755 "$dir/bin/kubelet-standin" /usr/local/bin/kubelet-standin
    touch /run/kubelet.active
    if [ "$i" -le "$etcd" ]; then
      manifest "$i" "$ip" "$cluster" > /etc/cfc/pods/etcd.json
    fi
    setsid /usr/local/bin/kubelet-standin "$h" >>"$h/kubelet.log" 2>&1 </dev/null &
  fi
  # sshd is the host's PID 1: it reaps every orphan at once.
  exec /usr/sbin/sshd -D -e -f "$h/sshd_config" 2>>"$h/sshd.log"
}

case "$cmd" in
up)
  n=$3; etcd=$4; net=$5; profile=${6:-icp}
  case "$profile" in
    icp) ;;
    kops)
      [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import yaml' 2>/dev/null || die "the kops profile needs /usr/bin/python3 with yaml (install python3-yaml)"
      [ "$n" -ge 2 ] && [ "$n" -le 26 ] || die "the kops profile has 2 to 26 masters"
      etcd=$n ;;
    domeos)
      [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import yaml' 2>/dev/null || die "the domeos profile needs /usr/bin/python3 with yaml (install python3-yaml)"
      [ "$n" -ge 9 ] || die "the domeos profile has at least 9 hosts: 3 old and 3 new etcd hosts, an old and a new master, nodes (--hosts 10)"
      etcd=3 ;;
    kubeadm)
      [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import yaml' 2>/dev/null || die "the kubeadm profile needs /usr/bin/python3 with yaml (install python3-yaml)"
      command -v openssl >/dev/null || die "the kubeadm profile needs openssl (its kubeadm stand-in makes the cluster's certificates)"
      command -v curl >/dev/null || die "the kubeadm profile needs curl (keepalived's check script)"
      command -v etcd >/dev/null || die "missing etcd (install etcd-server)"
      [ "$n" -ge 4 ] && [ "$n" -le 26 ] || die "the kubeadm profile has 4 to 26 hosts: 3 masters and at least one minion (--hosts 5)"
      etcd=0 ;;
    *) die "unknown profile $profile (icp, kops, domeos or kubeadm)" ;;
  esac
  [ "$(id -u)" = 0 ] || die "must run as root (network namespaces)"
  for t in ip unshare ssh-keygen; do command -v $t >/dev/null || die "missing $t"; done
  [ -x /usr/sbin/sshd ] || die "missing /usr/sbin/sshd (install openssh-server)"
  if [ "$etcd" -gt 0 ]; then command -v etcd >/dev/null || die "missing etcd (install etcd-server)"; fi
  [ -e "$dir/state" ] && die "a sandbox already runs in $dir: run 'etcdflow sandbox down' first"
  # Leftovers of a sandbox on this subnet: refuse if any of its hosts still runs a
  # process, otherwise clear them (a crashed test run leaves such stale namespaces).
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^ef$net-n" || true); do
    [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && die "subnet $net is in use by a running sandbox (namespace $ns): pick another --net or stop it"
    ip netns delete "$ns" 2>/dev/null || true
  done
  for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^efv$net-" || true); do ip link delete "$l" 2>/dev/null || true; done
  ip link delete "efbr$net" 2>/dev/null || true
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  prefix="10.213.$net"
  br="efbr$net"
  ssh-keygen -q -t ed25519 -N '' -C etcdflow-sandbox -f "$dir/id_ed25519" </dev/null
  : > "$dir/known_hosts"
  ip link add "$br" type bridge 2>/dev/null || true
  ip addr add "$prefix.1/24" dev "$br" 2>/dev/null || true
  ip link set "$br" up
  cluster=""
  for i in $(seq 1 "$etcd"); do cluster="${cluster:+$cluster,}n$i=http://$prefix.$((10 + i)):2380"; done
  mkdir -p "$dir/bin"
  standins "$dir/bin"
  [ "$profile" = kops ] && kops_standins "$dir/bin"
  if [ "$profile" = domeos ]; then
    printf '%s' "$ETCDFLOW_DOMEOS_STANDIN" > "$dir/bin/domeos-standin"
    chmod 0755 "$dir/bin/domeos-standin"
  fi
  if [ "$profile" = kubeadm ]; then
    printf '%s' "$ETCDFLOW_KUBEADM_STANDIN" > "$dir/bin/kubeadm-standin"
    chmod 0755 "$dir/bin/kubeadm-standin"
  fi
  {
    echo "net=$net"; echo "bridge=$br"; echo "hosts=$n"; echo "etcd=$etcd"; echo "profile=$profile"
  } > "$dir/state"
  for i in $(seq 1 "$n"); do
    h="$dir/n$i"; ns="ef$net-n$i"; ip="$prefix.$((10 + i))"
    mkdir -p "$h"
    ssh-keygen -q -t ed25519 -N '' -f "$h/ssh_host_ed25519_key" </dev/null
    echo "$ip $(cut -d' ' -f1,2 "$h/ssh_host_ed25519_key.pub")" >> "$dir/known_hosts"
    cat > "$h/sshd_config" <<CFG
ListenAddress $ip
Port 22
HostKey $h/ssh_host_ed25519_key
PidFile $h/sshd.pid
AuthorizedKeysFile /root/.ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxSessions 10
MaxStartups 100:30:200
LogLevel INFO
UseDNS no
Subsystem sftp internal-sftp
CFG
    ip netns add "$ns"
    ip link add "efv$net-$i" type veth peer name eth0 netns "$ns"
    ip link set "efv$net-$i" master "$br" up
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip link set eth0 address "02:ef:$(printf %02x "$net"):00:00:$(printf %02x "$i")"
    ip netns exec "$ns" ip addr add "$ip/24" dev eth0
    ip netns exec "$ns" ip link set eth0 up
    ip netns exec "$ns" ip route add default via "$prefix.1"
    echo "$ns" > "$h/netns"
    echo "$ip" > "$h/address"
    ip netns exec "$ns" unshare --mount --uts --pid --fork --mount-proc --propagation private \
      bash -c "KOPS_DOMAIN=$KOPS_DOMAIN; $(declare -f manifest host_setup kops_zone kops_events_zone kops_volume kops_manifest kops_host_setup domeos_role domeos_etcd_env domeos_host_setup kubeadm_host_setup); host_setup $i '$dir' $etcd '$cluster' $ip $profile $n $net $prefix" </dev/null >/dev/null 2>>"$h/setup.log" &
    echo $! > "$h/launcher.pid"
  done
  # Ready when every sshd has written its pid file (it does so once it listens).
  for _ in $(seq 1 600); do
    ready=0
    for i in $(seq 1 "$n"); do [ -s "$dir/n$i/sshd.pid" ] && ready=$((ready + 1)); done
    [ "$ready" = "$n" ] && break
    sleep 0.05
  done
  [ "$ready" = "$n" ] || { cat "$dir"/n*/setup.log "$dir"/n*/sshd.log >&2 2>/dev/null || true; die "only $ready of $n sshd started"; }
  if [ "$profile" = kops ]; then
    # Ready when the existing master's two clusters answer.
    ok=0
    for _ in $(seq 1 300); do
      if ETCDCTL_API=3 etcdctl --dial-timeout 1s --command-timeout 2s --endpoints "http://$prefix.11:4001,http://$prefix.11:4002" endpoint health >/dev/null 2>&1; then ok=1; break; fi
      sleep 0.2
    done
    if [ "$ok" != 1 ]; then
      tail -n 15 "$dir/n1/kubelet.log" "$dir"/n1/up/var/log/etcd*.log >&2 2>/dev/null || true
      die "the kops master's etcd clusters did not become healthy"
    fi
  elif [ "$profile" = domeos ]; then
    # Ready when the old etcd answers, the old master serves its DNS objects and every
    # node is Ready.
    ok=0
    for _ in $(seq 1 300); do
      if /usr/bin/python3 - "http://$prefix.17:8080" "$((n - 8))" <<'PY' 2>/dev/null
import json, sys, urllib.request
s, want = sys.argv[1], int(sys.argv[2])
nodes = json.load(urllib.request.urlopen(s + "/api/v1/nodes", timeout=2))["items"]
rcs = json.load(urllib.request.urlopen(s + "/api/v1/rc", timeout=2))["items"]
sys.exit(0 if len([n for n in nodes if n["ready"]]) == want and len(rcs) == 2 else 1)
PY
      then ok=1; break; fi
      sleep 0.2
    done
    if [ "$ok" != 1 ]; then
      tail -n 5 "$dir"/n*/up/var/log/*.log >&2 2>/dev/null || true
      die "the DomeOS cluster did not come up (etcd, apiserver, nodes)"
    fi
  elif [ "$etcd" -gt 0 ]; then
    # Ready when every member answers (the kubelet stand-ins start them).
    eps=""
    for i in $(seq 1 "$etcd"); do eps="${eps:+$eps,}http://$prefix.$((10 + i)):2379"; done
    ok=0
    for _ in $(seq 1 300); do
      if ETCDCTL_API=3 etcdctl --dial-timeout 1s --command-timeout 2s --endpoints "$eps" endpoint health >/dev/null 2>&1; then ok=1; break; fi
      sleep 0.2
    done
    if [ "$ok" != 1 ]; then
      for i in $(seq 1 "$etcd"); do echo "== n$i etcd.log" >&2; tail -n 15 "$dir/n$i/etcd.log" >&2 2>/dev/null || true; done
      die "etcd did not become healthy on $eps"
    fi
  fi
  cat > "$dir/ssh_config" <<CFG
Host *
  User root
  IdentityFile $dir/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $dir/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  LogLevel ERROR
  ConnectTimeout 5
  # The classic key exchange: the post-quantum default costs ~80 ms of CPU per
  # connection, which dominates on a 2-core machine running both ends.
  KexAlgorithms curve25519-sha256
  Ciphers aes128-gcm@openssh.com,chacha20-poly1305@openssh.com
CFG
  {
    echo "# etcdflow sandbox: $n hosts on $br ($prefix.0/24), profile $profile"
    echo "[sandbox]"
    for i in $(seq 1 "$n"); do echo "n$i ansible_host=$prefix.$((10 + i)) ansible_user=root"; done
    echo
    if [ "$profile" = kubeadm ]; then
      echo "# kubeadm2ha: the seed's groups (my-cluster.inventory)"
      echo "[primary-master]"; echo "n1"
      echo; echo "[secondary-masters]"; echo "n2"; echo "n3"
      echo; echo "[masters:children]"; echo "primary-master"; echo "secondary-masters"
      echo; echo "[primary-etcd:children]"; echo "primary-master"
      echo; echo "[secondary-etcds:children]"; echo "secondary-masters"
      echo; echo "[etcd:children]"; echo "primary-etcd"; echo "secondary-etcds"
      echo; echo "[minions]"; for i in $(seq 4 "$n"); do echo "n$i"; done
      echo; echo "[nodes:children]"; echo "masters"; echo "minions"
      echo; echo "[all:vars]"; echo "MASTER_VIP=$prefix.100"; echo "CLUSTER_NAME=sandbox$net"
    elif [ "$profile" = domeos ]; then
      echo "# DomeOS: the etcd cluster and the master move to new machines"
      echo "[etcd_old]"; for i in 1 2 3; do echo "n$i etcd_name=domeosEtcd$((i - 1))"; done
      echo; echo "[etcd_new]"; for i in 4 5 6; do echo "n$i etcd_name=domeosEtcd$((i - 1))"; done
      echo; echo "[master_old]"; echo "n7"
      echo; echo "[master_new]"; echo "n8"
      echo; echo "[nodes]"; for i in $(seq 9 "$n"); do echo "n$i"; done
    elif [ "$profile" = kops ]; then
      echo "# the existing kops master, and the new masters it grows to"
      echo "[master]"; echo "n1"
      echo; echo "[new_masters]"
      for i in $(seq 2 "$n"); do echo "n$i"; done
      echo; echo "[masters:children]"; echo "master"; echo "new_masters"
    else
      echo "[master:children]"; echo "sandbox"
    fi
    if [ "$etcd" -gt 0 ] && [ "$profile" != kops ]; then
      echo; echo "[etcd]"
      for i in $(seq 1 "$etcd"); do echo "n$i"; done
    fi
  } > "$dir/inventory"
  echo "$dir"
  ;;
down)
  [ -e "$dir/state" ] || exit 0
  . "$dir/state"
  for h in "$dir"/n*/; do
    [ -e "$h/netns" ] || continue
    ns=$(cat "$h/netns")
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
  done
  sleep 0.1
  for h in "$dir"/n*/; do
    [ -e "$h/netns" ] || continue
    ns=$(cat "$h/netns")
    ip netns delete "$ns" 2>/dev/null || true
  done
  ip link delete "$bridge" 2>/dev/null || true
  rm -rf "$dir"
  ;;
status)
  [ -e "$dir/state" ] || { echo "no sandbox in $dir"; exit 1; }
  . "$dir/state"
  echo "sandbox in $dir: $hosts hosts on $bridge, etcd=$etcd"
  for h in "$dir"/n*/; do
    name=$(basename "$h"); ns=$(cat "$h/netns"); addr=$(cat "$h/address")
    # Pids inside a host are its own (a PID namespace): look from here, by network namespace.
    comms=""
    for p in $(ip netns pids "$ns" 2>/dev/null); do comms="$comms $(cat "/proc/$p/comm" 2>/dev/null)"; done
    sshd=down; case " $comms " in *" sshd "*) sshd=up ;; esac
    et=-; [ "${name#n}" -le "$etcd" ] && et=down; etcds=$(printf '%s\n' $comms | grep -cx etcd || true)
    [ "$etcds" -gt 0 ] && et="up($etcds)"
    echo "$name $addr netns=$ns sshd=$sshd etcd=$et"
  done
  ;;
*) die "unknown command $cmd" ;;
esac

# etcdflow sandbox, profile `kops` (sourced before sandbox.sh): masters as kops 1.x
# creates them for a single-master cluster grown to three (seed 000). Host 1 is the
# existing master (zone a); hosts 2.. are new masters (zones b, c, ...). Each master runs
# two etcd clusters, `main` (clients 4001, peers 2380) and `events` (clients 4002, peers
# 2381), as static pods from /etc/kubernetes/manifests/etcd.manifest and
# etcd-events.manifest, whose `env` (ETCD_NAME, ETCD_INITIAL_CLUSTER, ...) a kubelet
# stand-in reads each time it (re)starts a pod; their data lives on per-cluster volumes
# /mnt/master-vol-<id>/var/etcd/data and data-events, bound into the pod at
# /var/etcd/data(-events). Members are named etcd-<zone> and etcd-events-<zone> with peer
# URLs by DNS name (etcd-b.internal.example.com) that every master's /etc/hosts resolves,
# and kops mixes them on the new masters (etcd-b with etcd-events-c on master b, etcd-c
# with etcd-events-b on master c). The first new master has booted the way kops boots it:
# state `new`, a three-member initial cluster (the wrong state the document corrects);
# the third is not launched yet (its instance group has minSize 0: kubelet inactive).

KOPS_DOMAIN=internal.example.com

# Zone letter of master i (1 -> a).
kops_zone() { printf "\\$(printf '%03o' $((96 + $1)))"; }

# Zone of the events member kops puts on master i (b and c swapped).
kops_events_zone() {
  case "$1" in
    2) kops_zone 3 ;;
    3) kops_zone 2 ;;
    *) kops_zone "$1" ;;
  esac
}

# The EBS-like volume id of master i's cluster volume (1: main, 2: events).
kops_volume() { printf '0%02x%02x%012x' "$2" "$1" "$3"; }

kops_standins() {
  cat > "$1/kops-kubelet" <<'PY'
#!/usr/bin/python3
"""etcdflow sandbox stand-in for a kops master's kubelet: while kubelet is active, runs
every static pod of /etc/kubernetes/manifests/*.manifest (its first container's
`command`, with the container's `env` as its whole environment and its hostPath volumes
bound at their mountPath in a private mount namespace), restarts a pod that exits or
whose manifest changes, and stops a pod whose manifest is removed. Stopping kubelet
leaves the pods running, as the real one does (`docker stop` stops them)."""
import glob, hashlib, os, secrets, shlex, signal, socket, subprocess, sys, time
import yaml

MANIFESTS = "/etc/kubernetes/manifests"
RUN = "/run/pods"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
pods = {}  # manifest path -> dict(proc, digest, id)
last_start = {}


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def start(path, text, digest):
    doc = yaml.safe_load(text)
    spec = doc["spec"]
    c = spec["containers"][0]
    env = {"PATH": PATH}
    for e in c.get("env") or []:
        env[str(e["name"])] = str(e.get("value", ""))
    vols = {v["name"]: v["hostPath"]["path"] for v in spec.get("volumes") or [] if "hostPath" in v}
    script = ["set -e"]
    for m in c.get("volumeMounts") or []:
        src, dst = vols.get(m["name"]), m["mountPath"]
        if src is None:
            continue
        if src.endswith(".log"):
            for f in (src, dst):
                os.makedirs(os.path.dirname(f), exist_ok=True)
                open(f, "a").close()
        else:
            os.makedirs(src, exist_ok=True)
            os.makedirs(dst, exist_ok=True)
        script.append("mount --bind %s %s" % (shlex.quote(src), shlex.quote(dst)))
    script.append('exec "$@"')
    argv = list(c.get("command") or []) + list(c.get("args") or [])
    cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(script), "pod"] + argv
    name = "%s-%s" % (doc["metadata"]["name"], socket.gethostname())
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    cid = secrets.token_hex(6)
    os.makedirs(RUN, exist_ok=True)
    with open("%s/%s.env" % (RUN, cid), "w") as f:
        f.write("id=%s\npid=%d\nname=%s\nimage=%s\ncommand=%s\n" % (
            cid, proc.pid, shlex.quote(name), shlex.quote(c.get("image", "")),
            shlex.quote(" ".join(argv))[:60]))
    pods[path] = {"proc": proc, "digest": digest, "id": cid}
    last_start[path] = time.time()
    log("started %s (%s, pid %d) from %s" % (name, cid, proc.pid, path))


def stop(path):
    p = pods.pop(path, None)
    if p is None:
        return
    proc = p["proc"]
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    try:
        os.remove("%s/%s.env" % (RUN, p["id"]))
    except FileNotFoundError:
        pass
    log("stopped the pod of %s" % path)


while True:
    if os.path.exists("/run/docker.restart"):
        for path in list(pods):
            stop(path)
        os.remove("/run/docker.restart")
    for path, p in list(pods.items()):
        if p["proc"].poll() is not None:
            log("the pod of %s exited (%s)" % (path, p["proc"].returncode))
            pods.pop(path)
            try:
                os.remove("%s/%s.env" % (RUN, p["id"]))
            except FileNotFoundError:
                pass
    if os.path.exists("/run/kubelet.active"):
        files = sorted(glob.glob(MANIFESTS + "/*.manifest"))
        for path in list(pods):
            if path not in files:
                stop(path)
        for path in files:
            try:
                with open(path) as f:
                    text = f.read()
                digest = hashlib.sha256(text.encode()).hexdigest()
                if path in pods and pods[path]["digest"] != digest:
                    log("%s changed: recreating its pod" % path)
                    stop(path)
                if path not in pods and time.time() - last_start.get(path, 0) >= 1:
                    start(path, text, digest)
            except Exception as e:  # a manifest being written, or a bad one
                log("cannot run %s: %s" % (path, e))
    time.sleep(0.2)
PY
  cat > "$1/docker" <<'SH'
#!/bin/bash
# etcdflow sandbox stand-in for docker on a kops master: `docker ps` lists the static
# pods the kubelet stand-in runs, `docker stop ID...` stops them (TERM, KILL after 10 s).
case "$1" in
ps)
  printf '%-14s %-28s %-34s %-10s %s\n' "CONTAINER ID" IMAGE COMMAND STATUS NAMES
  for f in /run/pods/*.env; do
    [ -e "$f" ] || continue
    ( . "$f"; kill -0 "$pid" 2>/dev/null && printf '%-14s %-28s %-34s %-10s %s\n' "$id" "$image" "\"${command:0:30}\"" Up "k8s_etcd-container_$name" )
  done ;;
stop)
  shift; rc=0
  for id in "$@"; do
    f=/run/pods/$id.env
    if [ ! -e "$f" ]; then echo "Error response from daemon: No such container: $id" >&2; rc=1; continue; fi
    pid=$(. "$f"; echo "$pid")
    kill -TERM -- "-$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null
    echo "$id"
  done
  exit $rc ;;
*) echo "docker (sandbox): only ps and stop" >&2; exit 1 ;;
esac
SH
  chmod 0755 "$1/kops-kubelet" "$1/docker"
}

# A kops (1.x, pre etcd-manager) static pod manifest for one etcd cluster of master i.
# $1 i, $2 net, $3 cluster (main|events), $4 initial cluster, $5 state
kops_manifest() {
  local i=$1 net=$2 which=$3 initial=$4 state=$5
  local zone name client peer dir log vol token pod
  if [ "$which" = main ]; then
    zone=$(kops_zone "$i"); name="etcd-$zone"; client=4001; peer=2380; dir=/var/etcd/data
    log=/var/log/etcd.log; vol=$(kops_volume "$i" "$net" 1); pod=etcd-server; token=etcd-cluster-token-etcd
  else
    zone=$(kops_events_zone "$i"); name="etcd-events-$zone"; client=4002; peer=2381; dir=/var/etcd/data-events
    log=/var/log/etcd-events.log; vol=$(kops_volume "$i" "$net" 2); pod=etcd-server-events; token=etcd-cluster-token-etcd-events
  fi
  cat <<YAML
apiVersion: v1
kind: Pod
metadata:
  annotations:
    scheduler.alpha.kubernetes.io/critical-pod: ""
  labels:
    k8s-app: $pod
  name: $pod
  namespace: kube-system
spec:
  containers:
  - command:
    - /bin/sh
    - -c
    - exec etcd 1>>$log 2>&1
    env:
    - name: ETCD_NAME
      value: $name
    - name: ETCD_DATA_DIR
      value: $dir
    - name: ETCD_LISTEN_PEER_URLS
      value: http://0.0.0.0:$peer
    - name: ETCD_LISTEN_CLIENT_URLS
      value: http://0.0.0.0:$client
    - name: ETCD_ADVERTISE_CLIENT_URLS
      value: http://$name.$KOPS_DOMAIN:$client
    - name: ETCD_INITIAL_ADVERTISE_PEER_URLS
      value: http://$name.$KOPS_DOMAIN:$peer
    - name: ETCD_INITIAL_CLUSTER_STATE
      value: $state
    - name: ETCD_INITIAL_CLUSTER_TOKEN
      value: $token
    - name: ETCD_INITIAL_CLUSTER
      value: $initial
    image: k8s.gcr.io/etcd:3.4.23
    name: etcd-container
    volumeMounts:
    - mountPath: $dir
      name: varetcdata
    - mountPath: $log
      name: varlogetcd
  hostNetwork: true
  volumes:
  - hostPath:
      path: /mnt/master-vol-$vol$dir
    name: varetcdata
  - hostPath:
      path: $log
    name: varlogetcd
YAML
}

# Inside master i's namespaces: names, volumes, manifests, units, the kubelet stand-in.
kops_host_setup() {
  local i=$1 dir=$2 n=$3 net=$4 prefix=$5
  local h="$dir/n$i" j all_main="" all_events=""
  for j in $(seq 1 "$n"); do
    local ip="$prefix.$((10 + j))"
    printf '%s etcd-%s.%s etcd-events-%s.%s\n' "$ip" "$(kops_zone "$j")" "$KOPS_DOMAIN" "$(kops_events_zone "$j")" "$KOPS_DOMAIN" >> /etc/hosts
  done
  for j in $(seq 1 "$n"); do
    all_main="${all_main:+$all_main,}etcd-$(kops_zone "$j")=http://etcd-$(kops_zone "$j").$KOPS_DOMAIN:2380"
    all_events="${all_events:+$all_events,}etcd-events-$(kops_zone "$j")=http://etcd-events-$(kops_zone "$j").$KOPS_DOMAIN:2381"
  done
  mkdir -p /etc/kubernetes/manifests /etc/etcdflow-sandbox /var/log /home/admin
  mkdir -p "/mnt/master-vol-$(kops_volume "$i" "$net" 1)/var/etcd/data" "/mnt/master-vol-$(kops_volume "$i" "$net" 2)/var/etcd/data-events"
  echo protokube > /etc/etcdflow-sandbox/units
  install -m 0755 "$dir/bin/docker" /usr/local/bin/docker
  install -m 0755 "$dir/bin/kops-kubelet" /usr/local/bin/kops-kubelet
  if [ "$i" = 1 ]; then
    # The single master: each cluster has one member.
    kops_manifest 1 "$net" main "etcd-a=http://etcd-a.$KOPS_DOMAIN:2380" new > /etc/kubernetes/manifests/etcd.manifest
    kops_manifest 1 "$net" events "etcd-events-a=http://etcd-events-a.$KOPS_DOMAIN:2381" new > /etc/kubernetes/manifests/etcd-events.manifest
  else
    # A new master as kops boots it: state `new` and every member kops knows of.
    kops_manifest "$i" "$net" main "$all_main" new > /etc/kubernetes/manifests/etcd.manifest
    kops_manifest "$i" "$net" events "$all_events" new > /etc/kubernetes/manifests/etcd-events.manifest
  fi
  # The existing master and the first new one are up; later ones are not launched yet.
  if [ "$i" -le 2 ]; then touch /run/kubelet.active /run/protokube.active; fi
  setsid /usr/bin/python3 /usr/local/bin/kops-kubelet >>"$h/kubelet.log" 2>&1 </dev/null &
}

# etcdflow sandbox, profile `domeos` (sourced before sandbox.sh): a DomeOS Kubernetes
# cluster whose etcd and master move to new machines (seed 002). N >= 9 hosts:
#   n1-n3  etcd_old    etcd members domeosEtcd0-2 (clients 4012, peers 4010), running
#   n4-n6  etcd_new    etcd installed (domeosEtcd3-5), not started
#   n7     master_old  kube-apiserver on 8080 (its state in etcd), kube-controller,
#                      kube-scheduler, kube-proxy: running
#   n8     master_new  the same services, not started, no configuration yet
#   n9..   nodes       kubelet, kube-proxy, flanneld running against n7 and the old etcd
# etcd is a systemctl service whose flags come from /etc/sysconfig/etcd (ETCD_* variables);
# the node services read /etc/sysconfig/kubelet, kube-proxy and flanneld as DomeOS's
# start_node_centos.sh writes them; `kubectl --server ... get nodes` says Ready for a
# node whose kubelet heartbeats reach that apiserver while its kube-proxy and flanneld run.

domeos_role() {
  if [ "$1" -le 3 ]; then echo etcd_old
  elif [ "$1" -le 6 ]; then echo etcd_new
  elif [ "$1" = 7 ]; then echo master_old
  elif [ "$1" = 8 ]; then echo master_new
  else echo nodes; fi
}

domeos_etcd_env() {
  local i=$1 ip=$2 initial=$3 state=$4
  cat <<ENV
# etcd for DomeOS (EnvironmentFile of etcd.service)
ETCD_NAME=domeosEtcd$((i - 1))
ETCD_DATA_DIR=/var/lib/etcd/domeos
ETCD_LISTEN_PEER_URLS=http://$ip:4010
ETCD_LISTEN_CLIENT_URLS=http://$ip:4012,http://127.0.0.1:4012
ETCD_ADVERTISE_CLIENT_URLS=http://$ip:4012
ETCD_INITIAL_ADVERTISE_PEER_URLS=http://$ip:4010
ETCD_INITIAL_CLUSTER=$initial
ETCD_INITIAL_CLUSTER_STATE=$state
ETCD_INITIAL_CLUSTER_TOKEN=domeos-etcd
ENV
}

domeos_host_setup() {
  local i=$1 dir=$2 n=$3 prefix=$4
  local ip="$prefix.$((10 + i))" role old_master="http://$prefix.17:8080" old_etcd="" initial=""
  role=$(domeos_role "$i")
  for j in 1 2 3; do
    old_etcd="${old_etcd:+$old_etcd,}http://$prefix.$((10 + j)):4012"
    initial="${initial:+$initial,}domeosEtcd$((j - 1))=http://$prefix.$((10 + j)):4010"
  done
  mkdir -p /etc/etcdflow-sandbox /etc/sysconfig /var/lib/etcd /var/log /usr/sbin/domeos/etcd/current /usr/sbin/domeos/k8s/current
  install -m 0755 "$dir/bin/domeos-standin" /usr/local/bin/domeos-standin
  for t in kubectl kube-apiserver; do ln -sf /usr/local/bin/domeos-standin "/usr/local/bin/$t"; ln -sf /usr/local/bin/domeos-standin "/usr/sbin/domeos/k8s/current/$t"; done
  ln -sf "$(command -v etcdctl)" /usr/sbin/domeos/etcd/current/etcdctl
  local py=/usr/bin/python3 s=/usr/local/bin/domeos-standin
  cat > /etc/etcdflow-sandbox/units <<UNITS
etcd: set -a; . /etc/sysconfig/etcd; exec etcd
kube-apiserver: set -a; . /etc/sysconfig/kube-apiserver; exec $py $s apiserver
kubelet: set -a; . /etc/sysconfig/kubelet; exec $py $s kubelet
flanneld: set -a; . /etc/sysconfig/flanneld; exec $py $s flanneld
kube-proxy
kube-controller
kube-scheduler
UNITS
  case "$role" in
  etcd_old)
    domeos_etcd_env "$i" "$ip" "$initial" new > /etc/sysconfig/etcd
    systemctl start etcd ;;
  etcd_new)
    # Installed as a one-member cluster of its own: joining needs the file edited.
    domeos_etcd_env "$i" "$ip" "domeosEtcd$((i - 1))=http://$ip:4010" new > /etc/sysconfig/etcd ;;
  master_old)
    printf "KUBE_API_ADDRESS='--insecure-bind-address=%s'\nKUBE_API_PORT='--insecure-port=8080'\nKUBE_ETCD_SERVERS='--etcd-servers=%s'\n" "$ip" "$old_etcd" > /etc/sysconfig/kube-apiserver
    systemctl start kube-apiserver
    systemctl start kube-controller; systemctl start kube-scheduler; systemctl start kube-proxy
    # The DNS service as DomeOS's "启动DNS服务" creates it (version v9).
    mkdir -p /etc/etcdflow-sandbox/dns
    printf '{"kind": "Service", "metadata": {"name": "skydns-svc"}, "spec": {"selector": {"app": "skydns", "version": "v9"}, "clusterIP": "172.16.40.1"}}\n' > /etc/etcdflow-sandbox/dns/svc.json
    printf '{"kind": "ReplicationController", "metadata": {"name": "kube2sky-v9", "labels": {"app": "kube2sky", "version": "v9"}}, "spec": {"replicas": 1, "selector": {"app": "kube2sky", "version": "v9"}, "template": {"metadata": {"labels": {"app": "kube2sky", "version": "v9"}}, "spec": {"containers": [{"name": "kube2sky", "args": ["--etcd-server=http://%s.11:4012", "--kube_master_url=%s", "--domain=domeos.local"]}]}}}}\n' "$prefix" "$old_master" > /etc/etcdflow-sandbox/dns/kube2sky.json
    printf '{"kind": "ReplicationController", "metadata": {"name": "skydns-v9", "labels": {"app": "skydns", "version": "v9"}}, "spec": {"replicas": 1, "selector": {"app": "skydns", "version": "v9"}, "template": {"metadata": {"labels": {"app": "skydns", "version": "v9"}}, "spec": {"containers": [{"name": "skydns", "args": ["--machines=%s", "--domain=domeos.local", "--addr=0.0.0.0:53"]}]}}}}\n' "$old_etcd" > /etc/etcdflow-sandbox/dns/skydns.json
    setsid sh -c "for f in svc kube2sky skydns; do until kubectl --server $old_master create -f /etc/etcdflow-sandbox/dns/\$f.json >/dev/null 2>&1; do sleep 0.5; done; done; touch /run/dns-seeded" </dev/null >/dev/null 2>&1 & ;;
  master_new) ;;
  nodes)
    printf "# configure file for kubelet\n# --api-servers\nAPI_SERVERS='--api-servers=%s'\n# --hostname-override\nHOSTNAME_OVERRIDE='--hostname-override=n%s'\n# other parameters\nKUBELET_OPTS=''\n" "$old_master" "$i" > /etc/sysconfig/kubelet
    printf "# configure file for kube-proxy\n# --master\nKUBE_MASTER='--master=%s'\n# other parameters\nKUBE_PROXY_OPTS=''\n" "$old_master" > /etc/sysconfig/kube-proxy
    printf 'FLANNEL_ETCD="%s"\nFLANNEL_ETCD_KEY="/flannel/network"\nFLANNEL_IFACE="eth0"\nFLANNEL_OPTIONS=""\n' "$old_etcd" > /etc/sysconfig/flanneld
    # As systemd retries them: flanneld needs etcd, which may still be starting.
    setsid sh -c "until systemctl start flanneld 2>/dev/null; do sleep 0.5; done; systemctl start kube-proxy; systemctl start kubelet" </dev/null >/dev/null 2>&1 & ;;
  esac
}

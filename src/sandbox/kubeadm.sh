# etcdflow sandbox, profile `kubeadm` (sourced before sandbox.sh): empty hosts for a
# kubeadm 1.9 cluster made highly available by kubeadm2ha (seed 001). N (4..26) hosts:
#   n1      primary-master     (also in etcd)
#   n2-n3   secondary-masters  (also in etcd)
#   n4..    minions
# Nothing runs but sshd: packages come from a local repo through a `yum`/`rpm` stand-in
# (kubelet, kubeadm, kubectl 1.9.2 and 1.9.3, kubernetes-cni, etcd, keepalived), the
# kernel settings the document asks for are read-only (`sysctl`, `lsmod`, `swapon`
# stand-ins over /etc/etcdflow-sandbox/kernel.json), and kubeadm, kubectl, kubelet,
# keepalived and the apiserver are kubeadm-standin (a real TLS apiserver on 6443 whose
# state is in the external etcd). The masters share the virtual IP 10.213.NET.100.

kubeadm_host_setup() {
  local i=$1 dir=$2 n=$3 prefix=$4
  mkdir -p /etc/etcdflow-sandbox/enabled /var/lib/etcdflow-sandbox/rpm /etc/kubernetes/manifests /var/log /var/lib/kubelet
  install -m 0755 "$dir/bin/kubeadm-standin" /usr/local/bin/kubeadm-standin
  local t
  for t in yum rpm sysctl lsmod swapon kubeadm kubectl kubelet keepalived; do ln -sf kubeadm-standin "/usr/local/bin/$t"; done
  local etcd_version
  etcd_version=$(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p')
  printf 'kubelet 1.9.2\nkubelet 1.9.3\nkubeadm 1.9.2\nkubeadm 1.9.3\nkubectl 1.9.2\nkubectl 1.9.3\nkubernetes-cni 0.6.0\netcd %s\nkeepalived 1.3.5\nperl 5.16.3\n' "${etcd_version:-3.4.0}" > /etc/etcdflow-sandbox/repo
  printf '{"sysctl": {"net.bridge.bridge-nf-call-iptables": "1", "net.ipv4.ip_forward": "1"}, "modules": ["ip_vs", "br_netfilter", "overlay"], "swaps": []}\n' > /etc/etcdflow-sandbox/kernel.json
  cat > /etc/etcdflow-sandbox/units <<UNITS
etcd: [ -s /var/lib/etcdflow-sandbox/rpm/etcd ] || { echo "etcd is not installed"; exit 1; }; set -a; . /etc/etcd/etcd.conf; exec etcd
keepalived: exec /usr/local/bin/keepalived
kubelet: exec /usr/local/bin/kubelet
docker
UNITS
  touch /run/docker.active
}

#!/usr/bin/python3
"""etcdflow sandbox stand-ins for a kubeadm 1.9 cluster made HA by kubeadm2ha (seed 001),
one program run under the names of the tools it stands in for:

  yum install|remove -y PKG-VER...   rpm -q PKG | rpm -e PKG...     packages from a local repo
  sysctl -n KEY   lsmod   swapon --show      kernel settings a flow reads but cannot change
  keepalived     (service) VRRP over UDP broadcast: the highest priority holds the VIP,
                 a failing track script lowers it by its weight, a stopped one gives it up
  kubelet        (service) runs the static pods of /etc/kubernetes/manifests while docker
                 is active (the apiserver a real TLS server on 6443) and posts its node's
                 status with the identity of its kubelet.conf client certificate
  kube-apiserver (static pod) HTTPS on 6443, its state in the external etcd through etcd's
                 v3 JSON gateway with the manifest's client certificate
  kubeadm init|join|token create|upgrade plan|upgrade apply|reset|version
  kubectl get nodes|configmap|deployment|endpoints|pods, cordon, uncordon, drain, scale,
          apply -f, delete pod

Every tool refuses to run unless its package is installed; the files it writes are the
ones kubeadm 1.9 writes. Faults for the tests, by files in /etc/etcdflow-sandbox:
`fail-upgrade` (kubeadm upgrade apply fails and restores the manifests, as kubeadm does)
and `apiserver-bind-address` (kubeadm init adds --bind-address=<this master>)."""
import base64, hashlib, json, os, re, signal, socket, ssl, struct, subprocess, sys, tempfile, time
import urllib.error, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SB = "/etc/etcdflow-sandbox"
RPM = "/var/lib/etcdflow-sandbox/rpm"
K8S = "/etc/kubernetes"
PKI = K8S + "/pki"
MANIFESTS = K8S + "/manifests"
ADMISSION = "Initializers,NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,DefaultTolerationSeconds,NodeRestriction,ResourceQuota"


def die(msg, rc=1):
    sys.stderr.write(msg.rstrip("\n") + "\n")
    sys.exit(rc)


def read(p, default=None):
    try:
        with open(p) as f:
            return f.read()
    except OSError:
        return default


def write(p, text, mode=0o644):
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text)
    os.chmod(p, mode)


def yaml():
    import yaml as y
    return y


# ----------------------------------------------------------------------- packages


def installed(name):
    return (read("%s/%s" % (RPM, name)) or "").strip() or None


def need(pkg):
    v = installed(pkg)
    if not v:
        die("%s: command not found (package %s is not installed)" % (os.path.basename(sys.argv[0]), pkg), 127)
    return v


def repo():
    out = {}
    for line in (read(SB + "/repo") or "").splitlines():
        if line.strip():
            n, v = line.split()
            out.setdefault(n, []).append(v)
    return out


def split_pkg(spec, known):
    for n in sorted(known, key=len, reverse=True):
        if spec == n:
            return n, None
        if spec.startswith(n + "-"):
            return n, spec[len(n) + 1:]
    return None, None


def yum(args):
    args = [a for a in args if a not in ("-y", "-q", "--quiet", "--assumeyes")]
    if not args or args[0] not in ("install", "remove", "erase"):
        die("yum (sandbox): usage: yum install|remove -y PACKAGE...")
    rp = repo()
    if args[0] == "install":
        todo = []
        for spec in args[1:]:
            n, v = split_pkg(spec, rp)
            if n is None or (v is not None and v not in rp[n]):
                die("No package %s available.\nError: Nothing to do" % spec)
            todo.append((n, v or sorted(rp[n])[-1]))
        for n, v in todo:
            old = installed(n)
            write("%s/%s" % (RPM, n), v + "\n")
            if n == "kubeadm" and not os.path.exists("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"):
                write("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
                      "[Service]\nEnvironment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\"\n"
                      "Environment=\"KUBELET_SYSTEM_PODS_ARGS=--pod-manifest-path=/etc/kubernetes/manifests --allow-privileged=true\"\n"
                      "Environment=\"KUBELET_CGROUP_ARGS=--cgroup-driver=systemd\"\n"
                      "ExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_SYSTEM_PODS_ARGS $KUBELET_CGROUP_ARGS\n")
            what = "Updated:" if old and old != v else "Installed:"
            print("%s %s-%s" % (what, n, v))
            with open("/var/log/yum.log", "a") as log:
                log.write("%.3f %s %s-%s\n" % (time.time(), what, n, v))
    else:
        for spec in args[1:]:
            n, _ = split_pkg(spec, rp)
            if n and installed(n):
                os.unlink("%s/%s" % (RPM, n))
                print("Removed: %s" % n)


def rpm(args):
    if args[:1] == ["-q"]:
        rc = 0
        for n in args[1:]:
            v = installed(n)
            if v:
                print("%s-%s-0.x86_64" % (n, v))
            else:
                print("package %s is not installed" % n)
                rc = 1
        sys.exit(rc)
    if args[:1] == ["-e"]:
        return yum(["remove"] + args[1:])
    die("rpm (sandbox): -q or -e only")


# ----------------------------------------------------------------------- kernel


def kernel():
    return json.loads(read(SB + "/kernel.json") or "{}")


def sysctl(args):
    if any(a == "-w" or "=" in a for a in args):
        die("sysctl: permission denied on key '%s' (the sandbox's kernel settings are fixed)" % args[-1], 255)
    keys = [a for a in args if not a.startswith("-")]
    vals = kernel().get("sysctl", {})
    for k in keys:
        if k not in vals:
            die("sysctl: cannot stat /proc/sys/%s: No such file or directory" % k.replace(".", "/"), 255)
        print(vals[k] if "-n" in args else "%s = %s" % (k, vals[k]))


def lsmod(_args):
    print("Module                  Size  Used by")
    for m in kernel().get("modules", []):
        print("%-22s %7d  0" % (m, 16384))


def swapon(args):
    swaps = kernel().get("swaps", [])
    if "--noheadings" not in args and swaps:
        print("NAME      TYPE SIZE USED PRIO")
    for s in swaps:
        print("%s partition 2G 0B -2" % s)


# ----------------------------------------------------------------------- TLS, HTTP


def sh(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (cmd[0], r.stderr.strip()))
    return r.stdout


def make_cert(base, cn, ca=None, sans=(), org=None, rsa=False):
    """BASE.crt/BASE.key: a CA (ca=None) or a certificate signed by CA (a base)."""
    subj = "/CN=%s" % cn + ("/O=%s" % org if org else "")
    key = base + ".key"
    if rsa:
        sh(["openssl", "genrsa", "-out", key, "2048"])
    else:
        sh(["openssl", "ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", key])
    os.chmod(key, 0o600)
    with tempfile.TemporaryDirectory() as t:
        ext = os.path.join(t, "ext")
        if ca is None:
            write(ext, "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n")
            sh(["openssl", "req", "-x509", "-new", "-key", key, "-subj", subj, "-days", "3650", "-out", base + ".crt", "-extensions", "v3", "-config", "/dev/stdin"],
               input="[req]\ndistinguished_name=dn\n[dn]\n[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n")
            return
        alt = ",".join(("IP:%s" if re.match(r"^[0-9.]+$", s) else "DNS:%s") % s for s in sans)
        write(ext, "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n" + ("subjectAltName=%s\n" % alt if alt else ""))
        csr = os.path.join(t, "csr")
        sh(["openssl", "req", "-new", "-key", key, "-subj", subj, "-out", csr])
        sh(["openssl", "x509", "-req", "-in", csr, "-CA", ca + ".crt", "-CAkey", ca + ".key", "-set_serial", "0x" + os.urandom(16).hex(), "-days", "3650", "-out", base + ".crt", "-extfile", ext])


def sign_csr(csr_pem, ca):
    with tempfile.TemporaryDirectory() as t:
        csr, ext = os.path.join(t, "csr"), os.path.join(t, "ext")
        write(csr, csr_pem)
        write(ext, "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
        return sh(["openssl", "x509", "-req", "-in", csr, "-CA", ca + ".crt", "-CAkey", ca + ".key", "-set_serial", "0x" + os.urandom(16).hex(), "-days", "3650", "-extfile", ext])


def ca_hash(pem):
    """The discovery hash: sha256 of the CA's DER public key, as the document computes it."""
    der = subprocess.run(["sh", "-c", "openssl x509 -pubkey -noout | openssl pkey -pubin -outform der"],
                         input=pem.encode(), capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


def cert_cn(pem):
    out = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "multiline"], input=pem, capture_output=True, text=True).stdout
    m = re.search(r"commonName\s*=\s*(\S+)", out)
    return m.group(1) if m else ""


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def unb64(s):
    return base64.b64decode(s).decode()


def kubeconfig(server, ca_pem, user, cert_pem, key_pem):
    return yaml().safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"cluster": {"certificate-authority-data": b64(ca_pem), "server": server}, "name": "kubernetes"}],
        "contexts": [{"context": {"cluster": "kubernetes", "user": user}, "name": "%s@kubernetes" % user}],
        "current-context": "%s@kubernetes" % user,
        "users": [{"name": user, "user": {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)}}],
    }, default_flow_style=False)


class Client:
    """An HTTPS client from a kubeconfig (its server, CA and client certificate)."""

    def __init__(self, path, server=None):
        text = read(path)
        if text is None:
            die("The connection to the server localhost:8080 was refused - did you specify the right host or port? (no %s)" % path)
        cfg = yaml().safe_load(text)
        cl = cfg["clusters"][0]["cluster"]
        self.server = server or cl["server"]
        if not self.server.startswith("http"):
            self.server = "https://" + self.server
        self.ctx = ssl.create_default_context(cadata=unb64(cl["certificate-authority-data"]))
        u = cfg["users"][0]["user"]
        self.tmp = tempfile.mkdtemp()
        c, k = os.path.join(self.tmp, "c"), os.path.join(self.tmp, "k")
        write(c, unb64(u["client-certificate-data"]), 0o600)
        write(k, unb64(u["client-key-data"]), 0o600)
        self.ctx.load_cert_chain(c, k)
        self.identity = cert_cn(unb64(u["client-certificate-data"]))

    def call(self, method, path, body=None, timeout=5):
        req = urllib.request.Request(self.server.rstrip("/") + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ctx) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise RuntimeError("Error from server (%s): %s" % (e.code, e.read().decode(errors="replace")))
        except Exception as e:
            raise RuntimeError("Unable to connect to the server %s: %s" % (self.server, e))


def admin(server=None):
    return Client(os.environ.get("KUBECONFIG") or K8S + "/admin.conf", server)


# ----------------------------------------------------------------------- the apiserver


class Etcd:
    def __init__(self, servers, ca, cert, key):
        self.servers = servers
        self.ctx = ssl.create_default_context(cafile=ca)
        self.ctx.load_cert_chain(cert, key)

    def call(self, path, body):
        last = None
        for s in self.servers:
            try:
                req = urllib.request.Request(s.rstrip("/") + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=2, context=self.ctx) as r:
                    return json.loads(r.read() or b"{}")
            except Exception as e:
                last = e
        raise RuntimeError("etcd: no server of %s answers: %s" % (self.servers, last))

    def put(self, k, v):
        self.call("/v3/kv/put", {"key": b64(k), "value": b64(json.dumps(v))})

    def get(self, k):
        kvs = self.call("/v3/kv/range", {"key": b64(k)}).get("kvs") or []
        return json.loads(base64.b64decode(kvs[0]["value"])) if kvs else None

    def list(self, prefix):
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        r = self.call("/v3/kv/range", {"key": b64(prefix), "range_end": b64(end)})
        return [json.loads(base64.b64decode(kv["value"])) for kv in r.get("kvs") or []]

    def delete(self, k):
        self.call("/v3/kv/deleterange", {"key": b64(k)})


def flags(command):
    out = {}
    for a in command[1:]:
        if a.startswith("--") and "=" in a:
            k, v = a[2:].split("=", 1)
            out[k] = v
    return out


def image_version(pod):
    return pod["spec"]["containers"][0]["image"].rsplit(":", 1)[1]


def node_view(n, network):
    now = time.time()
    ready = n.get("ready") and now - n.get("time", 0) < 5 and network
    status = "Ready" if ready else "NotReady"
    if n.get("unschedulable"):
        status += ",SchedulingDisabled"
    return dict(n, status=status)


def apiserver(manifest):
    pod = yaml().safe_load(read(manifest))
    f = flags(pod["spec"]["containers"][0]["command"])
    version = image_version(pod)
    me = f["advertise-address"]
    store = Etcd(f["etcd-servers"].split(","), f["etcd-cafile"], f["etcd-certfile"], f["etcd-keyfile"])
    admission = f.get("admission-control", "").split(",")
    ca = f["client-ca-file"][:-4]

    def lease():
        while True:
            try:
                store.put("/registry/masterleases/" + me, {"ip": me, "time": time.time(), "version": version})
            except Exception as e:
                print("lease:", e, flush=True)
            time.sleep(1)

    import threading
    threading.Thread(target=lease, daemon=True).start()

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(n) or b"{}")

        def who(self):
            c = self.connection.getpeercert()
            for rdn in (c or {}).get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        return v
            return None

        def route(self, m):
            p = [x for x in self.path.split("?")[0].split("/") if x]
            try:
                if p in ([], ["healthz"]):
                    store.get("/registry/health")
                    return self.reply(200, {"ok": True})
                if p == ["version"]:
                    return self.reply(200, {"gitVersion": version})
                if p == ["cluster-info"]:
                    return self.reply(200, {"ca": read(ca + ".crt")})
                if p == ["bootstrap"] and m == "POST":
                    b = self.body()
                    t = store.get("/registry/tokens/" + b.get("token", "-"))
                    if not t or t["expires"] < time.time():
                        return self.reply(401, {"error": "the bootstrap token is unknown or expired"})
                    return self.reply(200, {"cert": sign_csr(b["csr"], ca)})
                who = self.who()
                if who is None:
                    return self.reply(401, {"error": "Unauthorized"})
                if p[:1] == ["nodes"] and m == "GET":
                    net = store.get("/registry/network") is not None
                    return self.reply(200, {"items": [node_view(n, net) for n in store.list("/registry/minions/")]})
                if p[:1] == ["nodes"] and len(p) == 3 and p[2] == "status" and m == "POST":
                    name = p[1]
                    if "NodeRestriction" in admission and who != "system:node:" + name:
                        return self.reply(403, {"error": 'nodes "%s" is forbidden: node "%s" cannot modify node "%s"' % (name, who.replace("system:node:", ""), name)})
                    b = self.body()
                    old = store.get("/registry/minions/" + name) or {"created": time.time()}
                    old.update({"name": name, "ready": bool(b.get("ready")), "time": time.time(), "version": b.get("version"), "roles": b.get("roles", "<none>"), "via": me})
                    store.put("/registry/minions/" + name, old)
                    return self.reply(200, {})
                if p[:1] == ["nodes"] and len(p) == 3 and p[2] in ("cordon", "uncordon") and m == "POST":
                    n = store.get("/registry/minions/" + p[1])
                    if n is None:
                        return self.reply(404, {"error": 'nodes "%s" not found' % p[1]})
                    n["unschedulable"] = p[2] == "cordon"
                    store.put("/registry/minions/" + p[1], n)
                    return self.reply(200, {})
                if p[:1] in (["configmaps"], ["deployments"], ["objects"]) and len(p) == 3:
                    key = "/registry/%s/%s/%s" % tuple(p)
                    if m == "GET":
                        v = store.get(key)
                        return self.reply(200, v) if v is not None else self.reply(404, {"error": '%s "%s" not found' % (p[0], p[2])})
                    store.put(key, self.body())
                    return self.reply(200, {})
                if p == ["network"] and m == "PUT":
                    store.put("/registry/network", self.body())
                    return self.reply(200, {})
                if p == ["tokens"] and m == "POST":
                    tok = "%s.%s" % (os.urandom(3).hex(), os.urandom(8).hex())
                    store.put("/registry/tokens/" + tok, {"expires": time.time() + float(self.body().get("ttl", 86400))})
                    return self.reply(200, {"token": tok})
                if p[:1] == ["tokens"] and len(p) == 2 and m == "DELETE":
                    store.delete("/registry/tokens/" + p[1])
                    return self.reply(200, {})
                if p == ["endpoints", "kubernetes"]:
                    now = time.time()
                    return self.reply(200, {"subsets": [{"addresses": sorted(l["ip"] for l in store.list("/registry/masterleases/") if now - l["time"] < 5)}]})
                if p == ["kube-proxy", "restart"]:
                    cm = store.get("/registry/configmaps/kube-system/kube-proxy")
                    server = re.search(r"server: *(\S+)", cm["data"]["kubeconfig.conf"]).group(1)
                    store.put("/registry/kube-proxy", {"server": server, "time": time.time()})
                    return self.reply(200, {})
                if p == ["kube-proxy"]:
                    return self.reply(200, store.get("/registry/kube-proxy") or {})
                return self.reply(404, {"error": "the server could not find the requested resource"})
            except Exception as e:
                return self.reply(503, {"error": str(e)})

        def do_GET(self):
            self.route("GET")

        def do_POST(self):
            self.route("POST")

        def do_PUT(self):
            self.route("PUT")

        def do_DELETE(self):
            self.route("DELETE")

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(f["tls-cert-file"], f["tls-private-key-file"])
    ctx.load_verify_locations(f["client-ca-file"])
    ctx.verify_mode = ssl.CERT_OPTIONAL
    srv = ThreadingHTTPServer(("0.0.0.0", int(f.get("secure-port", 6443))), H)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


# ----------------------------------------------------------------------- kubelet


def active(unit):
    try:
        os.kill(int(read("/run/%s.pid" % unit)), 0)
        return True
    except Exception:
        return os.path.exists("/run/%s.active" % unit)


def kubelet():
    version = need("kubelet")
    name = socket.gethostname()
    pods = {}  # manifest -> (text, process or None)
    sys.stdout.write("kubelet %s on %s\n" % (version, name))
    sys.stdout.flush()

    def stop(path):
        text, proc = pods.pop(path)
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()

    def shutdown(*_):
        for path in list(pods):
            stop(path)
        sys.exit(0)

    signal.signal(signal.SIGTERM, shutdown)
    client, seen = None, None
    while True:
        docker = active("docker")
        want = {}
        if docker and os.path.isdir(MANIFESTS):
            for f in sorted(os.listdir(MANIFESTS)):
                if f.endswith(".yaml") and not f.startswith("."):
                    want[os.path.join(MANIFESTS, f)] = read(os.path.join(MANIFESTS, f))
        for path in list(pods):
            if path not in want or want[path] != pods[path][0] or (pods[path][1] and pods[path][1].poll() is not None):
                print("kubelet: stopping the static pod %s" % path, flush=True)
                stop(path)
        for path, text in want.items():
            if path not in pods:
                proc = None
                if path.endswith("kube-apiserver.yaml"):
                    proc = subprocess.Popen([sys.executable, os.path.realpath(__file__), "kube-apiserver", path],
                                            stdout=open("/var/log/kube-apiserver.log", "a"), stderr=subprocess.STDOUT, start_new_session=True)
                print("kubelet: started the static pod %s" % path, flush=True)
                pods[path] = (text, proc)
        conf = read(K8S + "/kubelet.conf")
        if conf is not None:
            try:
                if conf != seen:
                    client, seen = Client(K8S + "/kubelet.conf"), conf
                roles = "master" if os.path.exists(MANIFESTS + "/kube-apiserver.yaml") else "<none>"
                client.call("POST", "/nodes/%s/status" % name, {"ready": docker, "version": "v" + version, "roles": roles}, timeout=2)
            except Exception as e:
                print(time.strftime("%H:%M:%S"), "kubelet: node status: %s" % e, flush=True)
        time.sleep(1)


# ----------------------------------------------------------------------- keepalived


def keepalived_conf(text):
    c = {"weight": 0, "interval": 2, "fall": 1, "rise": 1, "script": None, "priority": 100, "auth": ""}
    for key, pat in (("state", r"\bstate\s+(\S+)"), ("interface", r"\binterface\s+(\S+)"), ("vrid", r"virtual_router_id\s+(\d+)"),
                     ("priority", r"\bpriority\s+(\d+)"), ("auth", r"auth_pass\s+(\S+)"), ("script", r'script\s+"([^"]+)"'),
                     ("interval", r"\binterval\s+(\d+)"), ("weight", r"\bweight\s+(-?\d+)"), ("fall", r"\bfall\s+(\d+)"), ("rise", r"\brise\s+(\d+)")):
        m = re.search(pat, text)
        if m:
            c[key] = m.group(1)
    m = re.search(r"virtual_ipaddress\s*\{\s*([0-9.]+)", text)
    if not m or "vrid" not in c or "interface" not in c:
        die("keepalived: /etc/keepalived/keepalived.conf needs interface, virtual_router_id and virtual_ipaddress")
    c["vip"] = m.group(1)
    for k in ("priority", "interval", "weight", "fall", "rise", "vrid"):
        c[k] = int(c[k])
    return c


def garp(iface, ip):
    mac = bytes.fromhex(read("/sys/class/net/%s/address" % iface).strip().replace(":", ""))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    a = socket.inet_aton(ip)
    frame = b"\xff" * 6 + mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + a + b"\x00" * 6 + a
    for _ in range(3):
        s.send(frame)
    s.close()


def keepalived():
    need("keepalived")
    c = keepalived_conf(read("/etc/keepalived/keepalived.conf") or die("keepalived: no /etc/keepalived/keepalived.conf"))
    me = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", c["interface"]], capture_output=True, text=True).stdout.split()[3].split("/")[0]
    bcast = me.rsplit(".", 1)[0] + ".255"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", 5112))
    s.settimeout(0.2)
    peers, fails, oks, degraded, holding = {}, 0, 0, False, False
    started, last_check, last_adv = time.time(), 0.0, 0.0

    def hold(on):
        nonlocal holding
        if on and not holding:
            subprocess.run(["ip", "addr", "add", c["vip"] + "/32", "dev", c["interface"]], capture_output=True)
            garp(c["interface"], c["vip"])
            print(time.strftime("%H:%M:%S"), "Entering MASTER STATE: %s on %s" % (c["vip"], c["interface"]), flush=True)
        elif not on and holding:
            subprocess.run(["ip", "addr", "del", c["vip"] + "/32", "dev", c["interface"]], capture_output=True)
            print(time.strftime("%H:%M:%S"), "Entering BACKUP STATE", flush=True)
        holding = on

    def advert(prio):
        msg = json.dumps({"vrid": c["vrid"], "auth": c["auth"], "prio": prio, "ip": me}).encode()
        s.sendto(msg, (bcast, 5112))

    def bye(*_):
        # Whatever hold() was doing when the signal came: the VIP goes, unconditionally.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        subprocess.run(["ip", "addr", "del", c["vip"] + "/32", "dev", c["interface"]], capture_output=True)
        advert(0)
        print(time.strftime("%H:%M:%S"), "Stopped: %s released" % c["vip"], flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, bye)
    while True:
        now = time.time()
        if c["script"] and now - last_check >= c["interval"]:
            last_check = now
            ok = subprocess.run(["sh", c["script"]], capture_output=True).returncode == 0
            fails, oks = (0, oks + 1) if ok else (fails + 1, 0)
            if not ok and fails >= c["fall"]:
                degraded = True
            if ok and oks >= c["rise"]:
                degraded = False
        prio = c["priority"] + (c["weight"] if degraded else 0)
        if now - last_adv >= 1:
            last_adv = now
            advert(prio)
        try:
            data, _ = s.recvfrom(512)
            m = json.loads(data)
            if m["vrid"] == c["vrid"] and m["auth"] == c["auth"] and m["ip"] != me:
                peers[m["ip"]] = (m["prio"], now)
        except (socket.timeout, ValueError, KeyError):
            pass
        live = {ip: p for ip, (p, t) in peers.items() if now - t < 3 and p > 0}
        best = max([(prio, socket.inet_aton(me))] + [(p, socket.inet_aton(ip)) for ip, p in live.items()])
        mine = best == (prio, socket.inet_aton(me))
        # A BACKUP waits for the master's adverts before it claims (VRRP's master-down timer).
        if c.get("state") == "MASTER" or now - started > 3:
            hold(mine)


# ----------------------------------------------------------------------- kubeadm

KUBECONFIGS = {"admin.conf": ("kubernetes-admin", "system:masters"), "kubelet.conf": (None, "system:nodes"),
               "controller-manager.conf": ("system:kube-controller-manager", None), "scheduler.conf": ("system:kube-scheduler", None)}


def my_address():
    out = subprocess.run(["ip", "-o", "-4", "route", "get", "1.1.1.1"], capture_output=True, text=True).stdout.split()
    return out[out.index("src") + 1] if "src" in out else "127.0.0.1"


def pod(name, version, command, host=None):
    c = {"name": name, "image": "gcr.io/google_containers/%s-amd64:%s" % (name, version), "command": command}
    if host:
        c["livenessProbe"] = {"httpGet": {"host": host, "path": "/healthz", "port": 6443, "scheme": "HTTPS"}}
    return yaml().safe_dump({"apiVersion": "v1", "kind": "Pod",
                             "metadata": {"name": name, "namespace": "kube-system", "labels": {"component": name, "tier": "control-plane"}},
                             "spec": {"hostNetwork": True, "containers": [c]}}, default_flow_style=False)


def vercmp(v):
    return tuple(int(x) for x in v.lstrip("v").split("."))


def wait_healthy(client, want=None, secs=60):
    end = time.time() + secs
    while time.time() < end:
        try:
            v = client.call("GET", "/version", timeout=2)["gitVersion"]
            if want is None or v == want:
                client.call("GET", "/healthz", timeout=2)
                return
        except Exception:
            pass
        time.sleep(1)
    die("[apiclient] the control plane did not become healthy within %ds%s" % (secs, " at %s" % want if want else ""))


def kubeadm_init(args):
    version = need("kubeadm")
    cfgp = next((a.split("=", 1)[1] for a in args if a.startswith("--config=")), None)
    if not cfgp:
        die("kubeadm init (sandbox): --config=FILE is needed")
    cfg = yaml().safe_load(read(cfgp) or die("kubeadm: cannot read %s" % cfgp))
    kv = cfg.get("kubernetesVersion", "v" + version)
    errors = []
    if os.path.isdir(MANIFESTS) and [f for f in os.listdir(MANIFESTS) if not f.startswith(".")]:
        errors.append("/etc/kubernetes/manifests is not empty")
    if os.path.exists(K8S + "/admin.conf"):
        errors.append("/etc/kubernetes/admin.conf already exists")
    if kernel().get("swaps"):
        errors.append("running with swap on is not supported. Please disable swap")
    if vercmp(kv)[:2] > vercmp(version)[:2]:
        errors.append("the control plane version %s is newer than kubeadm %s" % (kv, version))
    if installed("kubelet") and vercmp(installed("kubelet"))[:2] != vercmp(version)[:2]:
        errors.append("kubelet %s and kubeadm %s differ in their minor version" % (installed("kubelet"), version))
    etcd = cfg.get("etcd", {})
    eps = etcd.get("endpoints") or []
    if not eps:
        errors.append("the sandbox's kubeadm needs an external etcd (etcd.endpoints)")
    for e in eps:
        try:
            ctx = ssl.create_default_context(cafile=etcd["caFile"])
            ctx.load_cert_chain(etcd["certFile"], etcd["keyFile"])
            urllib.request.urlopen(e.rstrip("/") + "/health", timeout=3, context=ctx).read()
        except Exception as ex:
            errors.append("etcd endpoint %s: %s" % (e, ex))
    if errors:
        die("[preflight] Some fatal errors occurred:\n" + "".join("\t[ERROR] %s\n" % e for e in errors) + "[preflight] If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`")
    me = cfg.get("api", {}).get("advertiseAddress") or my_address()
    host = socket.gethostname()
    os.makedirs(PKI, exist_ok=True)
    make_cert(PKI + "/ca", "kubernetes", rsa=True)
    sans = [host, "kubernetes", "kubernetes.default", me, "10.96.0.1"] + [str(s) for s in cfg.get("apiServerCertSANs", [])]
    make_cert(PKI + "/apiserver", "kube-apiserver", PKI + "/ca", sans)
    make_cert(PKI + "/apiserver-kubelet-client", "kube-apiserver-kubelet-client", PKI + "/ca", org="system:masters")
    make_cert(PKI + "/front-proxy-ca", "front-proxy-ca", rsa=True)
    make_cert(PKI + "/front-proxy-client", "front-proxy-client", PKI + "/front-proxy-ca")
    sh(["openssl", "genrsa", "-out", PKI + "/sa.key", "2048"])
    os.chmod(PKI + "/sa.key", 0o600)
    sh(["openssl", "rsa", "-in", PKI + "/sa.key", "-pubout", "-out", PKI + "/sa.pub"])
    ca_pem = read(PKI + "/ca.crt")
    server = "https://%s:6443" % me
    with tempfile.TemporaryDirectory() as t:
        for conf, (user, org) in KUBECONFIGS.items():
            user = user or "system:node:" + host
            make_cert(t + "/u", user, PKI + "/ca", org=org)
            write(K8S + "/" + conf, kubeconfig(server, ca_pem, user, read(t + "/u.crt"), read(t + "/u.key")), 0o600)
    eflags = ["--etcd-servers=" + ",".join(eps), "--etcd-cafile=" + etcd["caFile"], "--etcd-certfile=" + etcd["certFile"], "--etcd-keyfile=" + etcd["keyFile"]]
    write(MANIFESTS + "/kube-apiserver.yaml", pod("kube-apiserver", kv, ["kube-apiserver", "--advertise-address=" + me, "--secure-port=6443", "--admission-control=" + ADMISSION,
                                                                        "--client-ca-file=/etc/kubernetes/pki/ca.crt", "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt",
                                                                        "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key", "--service-account-key-file=/etc/kubernetes/pki/sa.pub"] + eflags
                                                            # A fault for the tests: a configuration that also binds to the
                                                            # primary's address (a field a patch must not miss).
                                                            + (["--bind-address=" + me] if os.path.exists(SB + "/apiserver-bind-address") else []), me), 0o600)
    write(MANIFESTS + "/kube-controller-manager.yaml", pod("kube-controller-manager", kv, ["kube-controller-manager", "--kubeconfig=/etc/kubernetes/controller-manager.conf", "--cluster-cidr=" + str(cfg.get("networking", {}).get("podSubnet", ""))]), 0o600)
    write(MANIFESTS + "/kube-scheduler.yaml", pod("kube-scheduler", kv, ["kube-scheduler", "--kubeconfig=/etc/kubernetes/scheduler.conf", "--leader-elect=true"]), 0o600)
    print("[init] Using Kubernetes version: %s\n[certificates] Generated certificates and keys in /etc/kubernetes/pki\n[kubeconfig] Wrote KubeConfig files to /etc/kubernetes" % kv)
    subprocess.run(["systemctl", "start", "kubelet"], check=False)
    c = Client(K8S + "/admin.conf")
    print("[init] Waiting for the kubelet to boot up the control plane as Static Pods from directory \"/etc/kubernetes/manifests\"", flush=True)
    wait_healthy(c, kv)
    c.call("PUT", "/configmaps/kube-system/kubeadm-config", {"data": {"MasterConfiguration": yaml().safe_dump(dict(cfg, kubernetesVersion=kv))}})
    c.call("PUT", "/configmaps/kube-system/kube-proxy", kube_proxy_cm(server))
    c.call("PUT", "/deployments/kube-system/kube-dns", {"spec": {"replicas": 1}})
    tok = c.call("POST", "/tokens", {"ttl": 86400})["token"]
    print("[apiclient] All control plane components are healthy\n[bootstraptoken] Using token: %s\n[addons] Applied essential addon: kube-dns\n[addons] Applied essential addon: kube-proxy\n" % tok)
    print("Your Kubernetes master has initialized successfully!\n\nYou can now join any number of machines by running the following on each node\nas root:\n\n  kubeadm join --token %s %s:6443 --discovery-token-ca-cert-hash sha256:%s\n" % (tok, me, ca_hash(ca_pem)))


def kube_proxy_cm(server):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-proxy", "namespace": "kube-system", "labels": {"app": "kube-proxy"}},
            "data": {"config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclientConnection:\n  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf\nclusterCIDR: 10.244.0.0/16\n",
                     "kubeconfig.conf": "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt\n    server: %s\n  name: default\ncontexts:\n- context:\n    cluster: default\n    namespace: default\n    user: default\n  name: default\ncurrent-context: default\nusers:\n- name: default\n  user:\n    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token\n" % server}}


def kubeadm_join(args):
    version = need("kubeadm")
    token = addr = want = None
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--token":
            token, i = args[i + 1], i + 1
        elif a.startswith("--token="):
            token = a.split("=", 1)[1]
        elif a == "--discovery-token-ca-cert-hash":
            want, i = args[i + 1], i + 1
        elif not a.startswith("-"):
            addr = a
        i += 1
    if not token or not addr or not want:
        die("kubeadm join (sandbox): --token T ADDRESS:PORT --discovery-token-ca-cert-hash sha256:H")
    errors = []
    for f in ("/etc/kubernetes/kubelet.conf", "/etc/kubernetes/pki/ca.crt"):
        if os.path.exists(f):
            errors.append("%s already exists" % f)
    if kernel().get("swaps"):
        errors.append("running with swap on is not supported. Please disable swap")
    if errors:
        die("[preflight] Some fatal errors occurred:\n" + "".join("\t[ERROR] %s\n" % e for e in errors))
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    try:
        ca_pem = json.loads(urllib.request.urlopen("https://%s/cluster-info" % addr, timeout=5, context=insecure).read())["ca"]
    except Exception as e:
        die("[discovery] Failed to request cluster info from https://%s: %s" % (addr, e))
    if "sha256:" + ca_hash(ca_pem) != want:
        die("[discovery] the cluster CA found in cluster-info does not match the hash %s (it is sha256:%s)" % (want, ca_hash(ca_pem)))
    host = socket.gethostname()
    with tempfile.TemporaryDirectory() as t:
        sh(["openssl", "ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", t + "/k"])
        csr = sh(["openssl", "req", "-new", "-key", t + "/k", "-subj", "/CN=system:node:%s/O=system:nodes" % host])
        ctx = ssl.create_default_context(cadata=ca_pem)
        req = urllib.request.Request("https://%s/bootstrap" % addr, data=json.dumps({"token": token, "csr": csr}).encode(), headers={"Content-Type": "application/json"})
        try:
            cert = json.loads(urllib.request.urlopen(req, timeout=10, context=ctx).read())["cert"]
        except urllib.error.HTTPError as e:
            die("[discovery] the TLS bootstrap was refused: %s" % e.read().decode(errors="replace"))
        write(PKI + "/ca.crt", ca_pem)
        write(K8S + "/kubelet.conf", kubeconfig("https://" + addr, ca_pem, "system:node:" + host, cert, read(t + "/k")), 0o600)
    subprocess.run(["systemctl", "restart", "kubelet"], check=False)
    print("[discovery] Successfully established connection with API Server \"%s\"\n\nThis node has joined the cluster:\n* Certificate signing request was sent to master and a response\n  was received.\n* The Kubelet was informed of the new secure connection details.\n\nRun 'kubectl get nodes' on the master to see this node join the cluster." % addr)


def kubeadm_upgrade(args):
    version = need("kubeadm")
    c = admin()
    cfg = yaml().safe_load(c.call("GET", "/configmaps/kube-system/kubeadm-config")["data"]["MasterConfiguration"])
    current = cfg["kubernetesVersion"]
    if args[:1] == ["plan"]:
        wait_healthy(c, None, 10)
        print("Upgrade to the latest version in the v%s series:\n\nCOMPONENT            CURRENT   AVAILABLE" % ".".join(version.split(".")[:2]))
        for comp in ("API Server", "Controller Manager", "Scheduler", "Kube Proxy"):
            print("%-20s %-9s v%s" % (comp, current, version))
        print("\nYou can now apply the upgrade by executing the following command:\n\n\tkubeadm upgrade apply v%s" % version)
        return
    if args[:1] != ["apply"] or len(args) < 2:
        die("kubeadm upgrade (sandbox): plan | apply vX.Y.Z [-y] [--etcd-upgrade=false]")
    target = args[1]
    if vercmp(target) > vercmp(version):
        die("[upgrade/version] FATAL: the --version argument is invalid due to these errors:\n\n\t- Specified version to upgrade to \"%s\" is higher than the kubeadm version \"v%s\". Upgrade kubeadm first" % (target, version))
    if vercmp(target) < vercmp(current):
        die("[upgrade/version] FATAL: downgrading from %s to %s is not supported here" % (current, target))
    if vercmp(target)[:2] > (vercmp(current)[0], vercmp(current)[1] + 1):
        die("[upgrade/version] FATAL: Specified version to upgrade to \"%s\" is at least one minor release higher than the current version \"%s\"" % (target, current))
    wait_healthy(c, None, 10)
    old = {f: read(os.path.join(MANIFESTS, f)) for f in os.listdir(MANIFESTS) if f.endswith(".yaml")}
    me = my_address()
    for f, text in old.items():
        p = yaml().safe_load(text)
        cont = p["spec"]["containers"][0]
        cont["image"] = cont["image"].rsplit(":", 1)[0] + ":" + target
        if f == "kube-apiserver.yaml":
            cont["command"] = [a if not a.startswith("--admission-control=") else "--admission-control=" + ADMISSION for a in cont["command"]]
        write(os.path.join(MANIFESTS, f), yaml().safe_dump(p, default_flow_style=False), 0o600)
    print("[upgrade/staticpods] Writing new Static Pod manifests to \"/etc/kubernetes/manifests\"", flush=True)
    if os.path.exists(SB + "/fail-upgrade"):
        time.sleep(2)
        for f, text in old.items():
            write(os.path.join(MANIFESTS, f), text, 0o600)
        die("[upgrade/apply] FATAL: couldn't upgrade control plane. kubeadm has tried to recover everything into the earlier state. Errors faced: timed out waiting for the condition")
    wait_healthy(c, target, 90)
    cfg["kubernetesVersion"] = target
    c.call("PUT", "/configmaps/kube-system/kubeadm-config", {"data": {"MasterConfiguration": yaml().safe_dump(cfg)}})
    # The addons are applied again: kube-proxy's configmap names this master once more.
    c.call("PUT", "/configmaps/kube-system/kube-proxy", kube_proxy_cm("https://%s:6443" % me))
    print("[addons] Applied essential addon: kube-dns\n[addons] Applied essential addon: kube-proxy\n\n[upgrade/successful] SUCCESS! Your cluster was upgraded to \"%s\". Enjoy!" % target)


def kubeadm_reset():
    need("kubeadm")
    print("[reset] Stopping the kubelet service.")
    subprocess.run(["systemctl", "stop", "kubelet"], check=False)
    print("[reset] Removing kubernetes-managed containers.")
    for d in (MANIFESTS, PKI, "/var/lib/kubelet"):
        print("[reset] Deleting contents of stateful directories: [%s]" % d)
        subprocess.run(["rm", "-rf", "--", d], check=False)
    os.makedirs(MANIFESTS, exist_ok=True)
    for f in KUBECONFIGS:
        try:
            os.unlink(os.path.join(K8S, f))
        except FileNotFoundError:
            pass
    print("[reset] Deleting files: [/etc/kubernetes/admin.conf /etc/kubernetes/kubelet.conf /etc/kubernetes/controller-manager.conf /etc/kubernetes/scheduler.conf]")


def kubeadm(args):
    try:
        if args[:1] == ["version"]:
            print("v" + need("kubeadm") if "short" in args else 'kubeadm version: &version.Info{GitVersion:"v%s"}' % need("kubeadm"))
        elif args[:1] == ["init"]:
            kubeadm_init(args[1:])
        elif args[:1] == ["join"]:
            kubeadm_join(args[1:])
        elif args[:2] == ["token", "create"]:
            need("kubeadm")
            ttl = next((a.split("=", 1)[1] for a in args if a.startswith("--ttl=")), "24h")
            secs = int(ttl[:-1]) * {"s": 1, "m": 60, "h": 3600}[ttl[-1]]
            print(admin().call("POST", "/tokens", {"ttl": secs})["token"])
        elif args[:2] == ["token", "delete"]:
            need("kubeadm")
            admin().call("DELETE", "/tokens/" + args[2])
            print("bootstrap token with id %r deleted" % args[2].split(".")[0])
        elif args[:1] == ["upgrade"]:
            kubeadm_upgrade(args[1:])
        elif args[:1] == ["reset"]:
            kubeadm_reset()
        else:
            die("kubeadm (sandbox): cannot %s" % " ".join(args))
    except RuntimeError as e:
        die(str(e))


# ----------------------------------------------------------------------- kubectl


def kubectl(args):
    need("kubectl")
    server, rest, ns, out, i = None, [], "default", None, 0
    while i < len(args):
        a = args[i]
        if a in ("-s", "--server"):
            server, i = args[i + 1], i + 1
        elif a.startswith("--server="):
            server = a.split("=", 1)[1]
        elif a.startswith("--kubeconfig="):
            os.environ["KUBECONFIG"] = a.split("=", 1)[1]
        elif a in ("-n", "--namespace"):
            ns, i = args[i + 1], i + 1
        elif a == "-o":
            out, i = args[i + 1], i + 1
        elif a not in ("--force", "--ignore-daemonsets", "--delete-local-data", "--force=true"):
            rest.append(a)
        i += 1
    try:
        c = admin(server)
        verb = rest[:1]
        if rest[:2] == ["get", "nodes"]:
            items = sorted(c.call("GET", "/nodes")["items"], key=lambda n: n["name"])
            if out == "json":
                print(json.dumps({"items": items}, indent=2))
                return
            print("%-10s %-28s %-8s %-6s %s" % ("NAME", "STATUS", "ROLES", "AGE", "VERSION"))
            for n in items:
                print("%-10s %-28s %-8s %-6s %s" % (n["name"], n["status"], n.get("roles", "<none>"), "%ds" % int(time.time() - n["created"]), n.get("version", "")))
        elif rest[:2] in (["get", "configmap"], ["get", "cm"]):
            v = c.call("GET", "/configmaps/%s/%s" % (ns, rest[2]))
            print(json.dumps(v, indent=2) if out == "json" else yaml().safe_dump(v, default_flow_style=False), end="" if out != "json" else "\n")
        elif rest[:2] == ["get", "deployment"]:
            name = rest[2].split("/")[-1]
            print(json.dumps(c.call("GET", "/deployments/%s/%s" % (ns, name)), indent=2))
        elif rest[:2] == ["get", "endpoints"]:
            print(json.dumps(c.call("GET", "/endpoints/kubernetes"), indent=2))
        elif rest[:2] == ["get", "pods"] and "k8s-app=kube-proxy" in " ".join(rest):
            print(json.dumps(c.call("GET", "/kube-proxy"), indent=2))
        elif verb in (["cordon"], ["uncordon"], ["drain"]):
            c.call("POST", "/nodes/%s/%s" % (rest[1], "uncordon" if verb == ["uncordon"] else "cordon"))
            print("node \"%s\" %s" % (rest[1], {"cordon": "cordoned", "uncordon": "uncordoned", "drain": "drained"}[verb[0]]))
        elif verb == ["scale"]:
            n = int(next(a.split("=", 1)[1] for a in rest if a.startswith("--replicas=")))
            name = [a for a in rest[1:] if not a.startswith("--")][0].split("/")[-1]
            d = c.call("GET", "/deployments/%s/%s" % (ns, name))
            d["spec"]["replicas"] = n
            c.call("PUT", "/deployments/%s/%s" % (ns, name), d)
            print("deployment \"%s\" scaled" % name)
        elif verb == ["apply"]:
            f = rest[rest.index("-f") + 1]
            for obj in yaml().safe_load_all(read(f) or die("error: the path \"%s\" does not exist" % f)):
                if not obj:
                    continue
                kind, name = obj.get("kind"), obj.get("metadata", {}).get("name")
                ons = obj.get("metadata", {}).get("namespace", ns)
                if kind == "ConfigMap":
                    c.call("PUT", "/configmaps/%s/%s" % (ons, name), obj)
                else:
                    c.call("PUT", "/objects/%s/%s" % (kind, name), obj)
                    if kind == "DaemonSet" and any(x in name for x in ("flannel", "weave", "calico")):
                        c.call("PUT", "/network", {"plugin": name})
                print("%s \"%s\" configured" % (kind.lower(), name))
        elif rest[:2] == ["delete", "pod"] and "k8s-app=kube-proxy" in " ".join(rest):
            c.call("POST", "/kube-proxy/restart")
            print("pod \"kube-proxy\" deleted")
        elif verb == ["version"]:
            print("Client Version: v%s\nServer Version: %s" % (installed("kubectl"), c.call("GET", "/version")["gitVersion"]))
        else:
            die("kubectl (sandbox): cannot %s" % " ".join(rest))
    except RuntimeError as e:
        die(str(e))


if __name__ == "__main__":
    prog = os.path.basename(sys.argv[0])
    args = sys.argv[1:]
    if prog.endswith(".py") or prog == "kubeadm-standin":
        prog, args = (args[0], args[1:]) if args else ("", [])
    tools = {"yum": yum, "rpm": rpm, "sysctl": sysctl, "lsmod": lsmod, "swapon": swapon, "kubeadm": kubeadm, "kubectl": kubectl}
    if prog in tools:
        tools[prog](args)
    elif prog == "kubelet":
        kubelet()
    elif prog == "keepalived":
        keepalived()
    elif prog == "kube-apiserver":
        apiserver(args[0])
    else:
        die("usage: kubeadm-standin yum|rpm|sysctl|lsmod|swapon|kubeadm|kubectl|kubelet|keepalived|kube-apiserver ...")

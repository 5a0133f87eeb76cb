#!/usr/bin/python3
"""etcdflow sandbox stand-ins for a DomeOS Kubernetes cluster (seed 002), one program:

  domeos-standin apiserver   kube-apiserver: HTTP on KUBE_API_ADDRESS:KUBE_API_PORT, its
                             state in etcd (KUBE_ETCD_SERVERS) through etcd's v3 JSON gateway
  domeos-standin kubelet     posts a heartbeat for HOSTNAME_OVERRIDE to API_SERVERS every
                             second: Ready while kube-proxy and flanneld run and
                             flanneld holds its lease (/run/flannel/subnet.env)
  domeos-standin flanneld    needs one of FLANNEL_ETCD to answer when it starts; then
                             writes its lease (removed when it starts again)
  kubectl --server S get nodes | get rc [NAME -o json] | describe svc NAME |
          patch svc NAME --type=json -p PATCH | rolling-update NAME -f FILE
  kube-apiserver --version

The services take their settings from the environment (systemctl's stand-in sources the
/etc/sysconfig file of the unit, as the DomeOS units' EnvironmentFile= does)."""
import base64, json, os, sys, time, urllib.request, urllib.error
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "v1.2.0"


def flag(var, name):
    """`--name=value` inside an environment variable (KUBE_MASTER='--master=http://...')."""
    v = os.environ.get(var, "").strip().strip("'\"")
    prefix = "--%s=" % name
    for word in v.split():
        if word.startswith(prefix):
            return word[len(prefix):]
    return v if v and not v.startswith("--") else ""


def b64(s):
    return base64.b64encode(s.encode()).decode()


def etcd_call(servers, path, body, timeout=2):
    last = None
    for s in servers:
        try:
            req = urllib.request.Request(s.rstrip("/") + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"{}")
        except Exception as e:  # the next server
            last = e
    raise RuntimeError("no etcd server answers: %s" % last)


class Store:
    def __init__(self, servers):
        self.servers = servers

    def put(self, key, value):
        etcd_call(self.servers, "/v3/kv/put", {"key": b64(key), "value": b64(json.dumps(value))})

    def get(self, key):
        r = etcd_call(self.servers, "/v3/kv/range", {"key": b64(key)})
        kvs = r.get("kvs") or []
        return json.loads(base64.b64decode(kvs[0]["value"])) if kvs else None

    def list(self, prefix):
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        r = etcd_call(self.servers, "/v3/kv/range", {"key": b64(prefix), "range_end": b64(end)})
        return [json.loads(base64.b64decode(kv["value"])) for kv in r.get("kvs") or []]

    def delete(self, key):
        etcd_call(self.servers, "/v3/kv/deleterange", {"key": b64(key)})


def apiserver():
    servers = [s for s in flag("KUBE_ETCD_SERVERS", "etcd-servers").split(",") if s]
    addr = flag("KUBE_API_ADDRESS", "insecure-bind-address") or "0.0.0.0"
    port = int(flag("KUBE_API_PORT", "insecure-port") or 8080)
    store = Store(servers)

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

        def route(self, method):
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            try:
                if parts == ["healthz"]:
                    store.list("/registry/")
                    return self.reply(200, {"ok": True})
                if parts[:3] == ["api", "v1", "nodes"] and method == "GET" and len(parts) == 3:
                    now = time.time()
                    nodes = [dict(n, ready=n.get("ready") and now - n.get("time", 0) < 4) for n in store.list("/registry/minions/")]
                    return self.reply(200, {"items": nodes})
                if parts[:3] == ["api", "v1", "nodes"] and method == "POST" and len(parts) == 5:
                    b = self.body()
                    old = store.get("/registry/minions/" + parts[3]) or {"created": time.time()}
                    store.put("/registry/minions/" + parts[3], {"name": parts[3], "ready": bool(b.get("ready")), "time": time.time(), "created": old.get("created", time.time()), "apiserver": "%s:%d" % (addr, port)})
                    return self.reply(200, {})
                if parts[:2] == ["api", "v1"] and len(parts) >= 3 and parts[2] in ("rc", "svc"):
                    kind = {"rc": "controllers", "svc": "services"}[parts[2]]
                    if len(parts) == 3 and method == "GET":
                        return self.reply(200, {"items": store.list("/registry/%s/" % kind)})
                    key = "/registry/%s/%s" % (kind, parts[3])
                    if method == "GET":
                        v = store.get(key)
                        return self.reply(200, v) if v is not None else self.reply(404, {"error": "not found"})
                    if method == "PUT":
                        store.put(key, self.body())
                        return self.reply(200, {})
                    if method == "DELETE":
                        store.delete(key)
                        return self.reply(200, {})
                return self.reply(404, {"error": "no such path"})
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

    ThreadingHTTPServer((addr, port), H).serve_forever()


def active(unit):
    try:
        pid = int(open("/run/%s.pid" % unit).read())
        os.kill(pid, 0)
        return True
    except Exception:
        return os.path.exists("/run/%s.active" % unit)


def kubelet():
    server = flag("API_SERVERS", "api-servers")
    name = flag("HOSTNAME_OVERRIDE", "hostname-override") or os.uname().nodename
    while True:
        ready = active("kube-proxy") and active("flanneld") and os.path.exists(SUBNET_ENV)
        try:
            req = urllib.request.Request(server.rstrip("/") + "/api/v1/nodes/%s/heartbeat" % name,
                                         data=json.dumps({"ready": ready}).encode(),
                                         headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req, timeout=2).read()
        except Exception as e:
            print(time.strftime("%H:%M:%S"), "heartbeat to %s failed: %s" % (server, e), flush=True)
        time.sleep(1)


# flanneld writes its lease here once etcd answered; the node's network is up only then.
SUBNET_ENV = "/run/flannel/subnet.env"


def flanneld():
    try:
        os.unlink(SUBNET_ENV)
    except FileNotFoundError:
        pass
    eps = [e for e in os.environ.get("FLANNEL_ETCD", "").strip("'\"").split(",") if e]
    for e in eps:
        try:
            urllib.request.urlopen(e.rstrip("/") + "/health", timeout=2).read()
            break
        except Exception:
            continue
    else:
        print("flanneld: no etcd endpoint of %s answers" % eps, flush=True)
        sys.exit(1)
    os.makedirs(os.path.dirname(SUBNET_ENV), exist_ok=True)
    with open(SUBNET_ENV, "w") as f:
        f.write("FLANNEL_NETWORK=172.16.0.0/16\nFLANNEL_SUBNET=172.16.%d.1/24\n" % (os.getpid() % 250))
    while True:
        time.sleep(60)


def http(server, method, path, body=None):
    if not server.startswith("http"):
        server = "http://" + server
    req = urllib.request.Request(server.rstrip("/") + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        sys.exit("Error from server: %s" % e.read().decode(errors="replace"))
    except Exception as e:
        sys.exit("The connection to the server %s was refused - did you specify the right host or port? (%s)" % (server, e))


def kubectl(args):
    server = "http://localhost:8080"
    rest = []
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--server="):
            server = a.split("=", 1)[1]
        elif a in ("--server", "-s"):
            i += 1
            server = args[i]
        else:
            rest.append(a)
        i += 1
    if rest[:2] == ["get", "nodes"]:
        print("%-16s %-10s %s" % ("NAME", "STATUS", "AGE"))
        for n in sorted(http(server, "GET", "/api/v1/nodes")["items"], key=lambda n: n["name"]):
            age = int(time.time() - n.get("created", time.time()))
            print("%-16s %-10s %ds" % (n["name"], "Ready" if n["ready"] else "NotReady", age))
        return
    if rest[:2] == ["get", "rc"]:
        if len(rest) >= 3 and rest[2] != "-o":
            print(json.dumps(http(server, "GET", "/api/v1/rc/" + rest[2]), indent=2))
        else:
            for rc in http(server, "GET", "/api/v1/rc")["items"]:
                print(rc["metadata"]["name"])
        return
    if rest[:2] == ["describe", "svc"]:
        svc = http(server, "GET", "/api/v1/svc/" + rest[2])
        sel = ",".join("%s=%s" % kv for kv in sorted(svc["spec"].get("selector", {}).items()))
        print("Name:\t\t\t%s\nSelector:\t\t%s" % (rest[2], sel))
        return
    if rest[:2] == ["patch", "svc"]:
        name = rest[2]
        patch = json.loads(rest[rest.index("-p") + 1])
        svc = http(server, "GET", "/api/v1/svc/" + name)
        for op in patch:
            keys = [k for k in op["path"].split("/") if k]
            parent = svc
            for k in keys[:-1]:
                parent = parent[k]
            if op["op"] == "remove":
                parent.pop(keys[-1], None)
            elif op["op"] in ("add", "replace"):
                parent[keys[-1]] = op["value"]
        http(server, "PUT", "/api/v1/svc/" + name, svc)
        print('service "%s" patched' % name)
        return
    if rest[:1] == ["rolling-update"]:
        old = rest[1]
        f = rest[rest.index("-f") + 1]
        import yaml
        new = yaml.safe_load(open(f))
        http(server, "GET", "/api/v1/rc/" + old)
        http(server, "PUT", "/api/v1/rc/" + new["metadata"]["name"], new)
        if new["metadata"]["name"] != old:
            http(server, "DELETE", "/api/v1/rc/" + old)
        print('replicationcontroller "%s" rolling updated to "%s"' % (old, new["metadata"]["name"]))
        return
    if rest[:1] == ["create"]:
        import yaml
        obj = yaml.safe_load(open(rest[rest.index("-f") + 1]))
        kind = {"ReplicationController": "rc", "Service": "svc"}[obj["kind"]]
        http(server, "PUT", "/api/v1/%s/%s" % (kind, obj["metadata"]["name"]), obj)
        print('%s "%s" created' % (kind, obj["metadata"]["name"]))
        return
    sys.exit("kubectl (sandbox): cannot %s" % " ".join(rest))


if __name__ == "__main__":
    prog = os.path.basename(sys.argv[0])
    if prog == "kubectl":
        kubectl(sys.argv[1:])
    elif prog == "kube-apiserver":
        print("Kubernetes %s" % VERSION)
    elif len(sys.argv) > 1 and sys.argv[1] == "apiserver":
        apiserver()
    elif len(sys.argv) > 1 and sys.argv[1] == "kubelet":
        kubelet()
    elif len(sys.argv) > 1 and sys.argv[1] == "flanneld":
        flanneld()
    else:
        sys.exit("usage: domeos-standin apiserver|kubelet|flanneld")

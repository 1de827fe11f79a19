#!/usr/bin/env python3
"""Runs billing-checkout behind real web servers with the shipped configs and checks the HTTP contract.

Mounts: lighttpd (mod_fastcgi bin-path), Apache mod_fcgid, Apache mod_proxy_fcgi (binary on --listen, as the
systemd service runs it), Apache mod_cgi(d), nginx + spawn-fcgi. Every mount must give the same status, JSON body
and contract headers for every case, equal to the expected ones. Then 200 concurrent requests against a slow
Stripe stand-in through lighttpd and mod_fcgid.

    python3 tests/webservers/run.py [--mount NAME] [-v]

Standard library only. Needs lighttpd, apache2 (+ libapache2-mod-fcgid), nginx, spawn-fcgi; root for Apache's
User www-data. Binaries: BILLING_CHECKOUT_BIN / STAND_IN_BINARY, else .build/debug/.
"""
import argparse
import atexit
import base64
import hashlib
import hmac
import http.client
import json
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONF = os.path.join(ROOT, "conf")
BIN = os.environ.get("BILLING_CHECKOUT_BIN") or os.path.join(ROOT, ".build", "debug", "billing-checkout")
STAND_IN = os.environ.get("STAND_IN_BINARY") or os.path.join(ROOT, ".build", "debug", "stripe-stand-in")
APACHE_MODULES = "/usr/lib/apache2/modules"
JWT_SECRET = "webservers-test-secret-" + os.urandom(16).hex()
FRONTEND = "http://localhost:3000"
ROUTE = "/api/v1/billing/checkout"
URL_PLACEHOLDER = "<session-url>"
CONTRACT_HEADERS = ("content-type", "cache-control", "www-authenticate", "allow", "retry-after")
IS_ROOT = os.geteuid() == 0
SERVER_USER = "www-data" if IS_ROOT else None

# The servers live in sbin, which a non-login PATH may lack.
os.environ["PATH"] = os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/local/sbin:/usr/sbin:/sbin"
PROCESSES = []  # subprocess.Popen objects this run started
TEMP_DIRS = []
VERBOSE = False


# ---------------------------------------------------------------- processes


def start(argv, log_path, env=None, **kwargs):
    """Starts argv in its own process group, stdout+stderr to log_path, and remembers it for cleanup."""
    log = open(log_path, "ab")
    argv = [shutil.which(argv[0]) or argv[0]] + list(argv[1:])
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                            start_new_session=True, **kwargs)
    log.close()
    PROCESSES.append(proc)
    return proc


def stop(proc, grace=10.0):
    """SIGTERM to the process (by PID), SIGKILL to it and its group after the grace period."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)
    # Children left in the group (FastCGI processes a server spawned): SIGTERM, then SIGKILL.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, 0)
        except (ProcessLookupError, PermissionError):
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        for _ in range(50):
            try:
                os.killpg(proc.pid, 0)
                time.sleep(0.1)
            except (ProcessLookupError, PermissionError):
                break
    if proc in PROCESSES:
        PROCESSES.remove(proc)


def cleanup():
    for proc in reversed(list(PROCESSES)):
        try:
            stop(proc)
        except Exception as error:  # keep cleaning up the rest
            print(f"cleanup: {error}", file=sys.stderr)
    for path in TEMP_DIRS:
        shutil.rmtree(path, ignore_errors=True)
    TEMP_DIRS.clear()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc=None, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


def make_temp_dir(name):
    path = tempfile.mkdtemp(prefix=f"billing-{name}-")
    os.chmod(path, 0o755)
    TEMP_DIRS.append(path)
    return path


def give_to_server_user(path, mode=None):
    if SERVER_USER:
        entry = pwd.getpwnam(SERVER_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    if mode is not None:
        os.chmod(path, mode)


def render(relative_path, replacements):
    """The shipped config with only paths and ports replaced (plain string replacement)."""
    with open(os.path.join(CONF, relative_path)) as f:
        text = f.read()
    for old, new in replacements.items():
        if old not in text:
            raise RuntimeError(f"{relative_path}: placeholder {old} not found")
        text = text.replace(old, new)
    return text


# ---------------------------------------------------------------- stand-in and settings


class StandIn:
    def __init__(self, workdir):
        self.log = os.path.join(workdir, "stand-in.log")
        out = open(os.path.join(workdir, "stand-in.out"), "w+b")
        env = dict(os.environ, STAND_IN_SECRET_KEY="sk_test_standin",
                   STAND_IN_PRICES="price_standin_basic,price_standin_pro")
        self.proc = subprocess.Popen([STAND_IN, "--port", "0", "--host", "127.0.0.1"], stdout=out,
                                     stderr=open(self.log, "wb"), stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True)
        PROCESSES.append(self.proc)
        deadline = time.time() + 15
        self.port = None
        while time.time() < deadline and self.port is None:
            out.seek(0)
            line = out.read().decode()
            if "listening on" in line:
                self.port = int(line.strip().rsplit(":", 1)[1])
            elif self.proc.poll() is not None:
                break
            else:
                time.sleep(0.05)
        if self.port is None:
            raise RuntimeError("stripe stand-in did not start")
        self.base = f"http://127.0.0.1:{self.port}"

    def control(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return json.loads(data)


def write_settings(workdir, stand_in, workers=64):
    path = os.path.join(workdir, "config.json")
    settings = {
        "stripe": {"secretKey": "sk_test_standin", "priceId": "price_standin_basic",
                   "prices": {"pro": "price_standin_pro"}, "apiBase": stand_in.base},
        "jwt": {"secret": JWT_SECRET},
        "frontendUrl": FRONTEND,
        "corsOrigins": [FRONTEND],
        "workers": workers,
    }
    with open(path, "w") as f:
        json.dump(settings, f)
    # Secrets inside: readable by root and the server's group only.
    if SERVER_USER:
        os.chown(path, 0, pwd.getpwnam(SERVER_USER).pw_gid)
    os.chmod(path, 0o640)
    return path


def binary_env(settings_path, **extra):
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "BILLING_CONFIG": settings_path, "BILLING_ENV_FILE": ""}
    env.update(extra)
    return env


def token(sub="user_web_1", **claims):
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    now = int(time.time())
    payload = {"sub": sub, "iat": now, "exp": now + 3600, "email": f"{sub}@example.com", **claims}
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64(json.dumps(payload, separators=(",", ":")).encode())
    signature = hmac.new(JWT_SECRET.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(signature)}"


# ---------------------------------------------------------------- mounts


class Mount:
    """A web server with the binary mounted under /api/; start() returns the HTTP port."""
    name = ""
    # The concurrency check (mounts in CONCURRENCY_MOUNTS): time limit, processes the web server must start.
    burst_limit_s = 20
    burst_min_new_processes = 0
    # What a chunked body far over the web server's 1 MiB cap gets (huge_body).
    huge_chunked_status = 413

    def __init__(self):
        self.dir = make_temp_dir(self.name)
        self.stand_in = StandIn(self.dir)
        self.logs = []

    def settings(self, workers=64):
        return write_settings(self.dir, self.stand_in, workers)

    def process_starts(self):
        """How many billing-checkout processes have started so far: each logs one "serving FastCGI" line."""
        total = 0
        for path in self.logs:
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    total += f.read().count("serving FastCGI")
        return total

    def print_logs(self):
        for path in self.logs + [self.stand_in.log]:
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    text = f.read()
                print(f"----- {path} (last 60 lines)")
                print("\n".join(text.splitlines()[-60:]))


class Lighttpd(Mount):
    name = "lighttpd"

    def start(self):
        settings = self.settings()
        port = free_port()
        conf = render("lighttpd/billing-checkout.conf", {
            "/usr/local/bin/billing-checkout": BIN,
            "/run/lighttpd/billing-checkout.sock": os.path.join(self.dir, "billing-checkout.sock"),
        })
        with open(os.path.join(self.dir, "billing-checkout.conf"), "w") as f:
            f.write(conf)
        error_log = os.path.join(self.dir, "error.log")
        top = os.path.join(self.dir, "lighttpd.conf")
        with open(top, "w") as f:
            f.write(f'''server.document-root = "{self.dir}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{error_log}"
server.max-connections = 1024
include "{self.dir}/billing-checkout.conf"
''')
        self.logs += [error_log, os.path.join(self.dir, "server.out")]
        check = subprocess.run(["lighttpd", "-tt", "-f", top], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"lighttpd -tt: {check.stderr.strip()}")
        self.proc = start(["lighttpd", "-D", "-f", top], os.path.join(self.dir, "server.out"),
                          env=binary_env(settings))
        wait_for_port(port, self.proc)
        return port


APACHE_MODULES_COMMON = ["mpm_event", "authz_core", "authz_host", "env", "headers", "rewrite", "alias"]


class Apache(Mount):
    snippet = ""
    modules = []

    def prepare(self, port):
        """Renders the snippet; returns extra top-level lines."""
        raise NotImplementedError

    def start(self):
        port = free_port()
        self.run_dir = os.path.join(self.dir, "run")
        os.makedirs(self.run_dir)
        give_to_server_user(self.run_dir, 0o755)
        extra, snippet = self.prepare(port)
        with open(os.path.join(self.dir, "billing-checkout.conf"), "w") as f:
            f.write(snippet)
        error_log = os.path.join(self.dir, "error.log")
        self.logs += [error_log, os.path.join(self.dir, "server.out")]
        load = "\n".join(f"LoadModule {m}_module {APACHE_MODULES}/mod_{m}.so"
                         for m in APACHE_MODULES_COMMON + self.modules)
        user = f"User {SERVER_USER}\nGroup {SERVER_USER}\n" if SERVER_USER else ""
        top = os.path.join(self.dir, "apache2.conf")
        with open(top, "w") as f:
            f.write(f'''ServerRoot "{self.dir}"
DefaultRuntimeDir "{self.run_dir}"
PidFile "{self.run_dir}/apache2.pid"
Mutex file:{self.run_dir} default
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
ErrorLog "{error_log}"
LogLevel warn
{user}{load}
StartServers 4
ServerLimit 8
ThreadsPerChild 64
MaxRequestWorkers 512
MinSpareThreads 64
MaxSpareThreads 512
ListenBacklog 1024
DocumentRoot "{self.dir}/htdocs"
<Directory />
    AllowOverride None
    Require all denied
</Directory>
{extra}
Include "{self.dir}/billing-checkout.conf"
''')
        os.makedirs(os.path.join(self.dir, "htdocs"))
        check = subprocess.run(["apache2", "-t", "-f", top], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"apache2 -t: {check.stderr.strip()}")
        # Debian's apache2 binary wants APACHE_* variables only through apache2ctl; -f with absolute paths does not.
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
        self.proc = start(["apache2", "-f", top, "-DFOREGROUND"], os.path.join(self.dir, "server.out"), env=env)
        wait_for_port(port, self.proc)
        return port


class ApacheFcgid(Apache):
    name = "apache-fcgid"
    modules = ["fcgid"]
    # See concurrency(): mod_fcgid retries once a second; 60 s would mean one request at a time.
    burst_limit_s = 40
    # The shipped config allows 32 processes; the burst must make mod_fcgid start at least half of them.
    burst_min_new_processes = 16
    # mod_fcgid stops a chunked body at FcgidMaxRequestLen with a 500 of its own; it has no way to send a 413.
    huge_chunked_status = 500

    def prepare(self, port):
        settings = self.settings(workers=1)
        fcgid_dir = os.path.join(self.run_dir, "fcgid")
        os.makedirs(fcgid_dir)
        give_to_server_user(fcgid_dir, 0o755)
        snippet = render("apache/billing-checkout-fcgid.conf", {
            "/usr/local/bin/billing-checkout": BIN,
            "/etc/billing-checkout/config.json": settings,
        })
        extra = f'FcgidIPCDir "{fcgid_dir}"\nFcgidProcessTableFile "{self.run_dir}/fcgid_shm"\n'
        return extra, snippet


class ApacheProxyFcgi(Apache):
    name = "apache-proxy-fcgi"
    modules = ["proxy", "proxy_fcgi"]

    def prepare(self, port):
        settings = self.settings()
        fcgi_port = free_port()
        # As the systemd service runs it: own process, own socket, environment settings.
        log = os.path.join(self.dir, "billing-checkout.log")
        self.logs.append(log)
        self.binary = start([BIN, "--listen", f"127.0.0.1:{fcgi_port}"], log, env=binary_env(settings),
                            cwd=self.dir)
        wait_for_port(fcgi_port, self.binary)
        return "", render("apache/billing-checkout-proxy-fcgi.conf", {"127.0.0.1:9000": f"127.0.0.1:{fcgi_port}"})


class ApacheCgi(Apache):
    name = "apache-cgi"
    modules = ["cgi"]

    def prepare(self, port):
        settings = self.settings()
        cgi_bin = os.path.join(self.dir, "cgi-bin")
        os.makedirs(cgi_bin)
        os.chmod(cgi_bin, 0o755)
        copy = os.path.join(cgi_bin, "billing-checkout")
        shutil.copy2(BIN, copy)
        os.chmod(copy, 0o755)
        snippet = render("apache/billing-checkout-cgi.conf", {
            "/usr/lib/cgi-bin/billing-checkout": copy,
            "/etc/billing-checkout/config.json": settings,
        })
        return f'<IfModule cgid_module>\n    ScriptSock "{self.run_dir}/cgid.sock"\n</IfModule>\n', snippet


class NginxSpawnFcgi(Mount):
    name = "nginx"

    def start(self):
        settings = self.settings()
        port, fcgi_port = free_port(), free_port()
        log = os.path.join(self.dir, "billing-checkout.log")
        self.logs.append(log)
        user = ["-u", SERVER_USER, "-g", SERVER_USER] if SERVER_USER else []
        # As conf/systemd/billing-checkout-spawn-fcgi.service runs it (-n: foreground).
        self.binary = start(["spawn-fcgi", "-n", "-a", "127.0.0.1", "-p", str(fcgi_port)] + user + ["--", BIN],
                            log, env=binary_env(settings), cwd=self.dir)
        wait_for_port(fcgi_port, self.binary)
        conf_dir = os.path.join(self.dir, "conf")
        os.makedirs(conf_dir)
        os.makedirs(os.path.join(self.dir, "logs"))
        shutil.copy("/etc/nginx/fastcgi_params", os.path.join(conf_dir, "fastcgi_params"))
        with open(os.path.join(conf_dir, "billing-checkout.conf"), "w") as f:
            f.write(render("nginx/billing-checkout.conf", {"127.0.0.1:9000": f"127.0.0.1:{fcgi_port}"}))
        error_log = os.path.join(self.dir, "logs", "error.log")
        self.logs += [error_log, os.path.join(self.dir, "server.out")]
        temp = os.path.join(self.dir, "temp")
        os.makedirs(temp)
        give_to_server_user(temp, 0o755)
        user_line = f"user {SERVER_USER};" if SERVER_USER else ""
        top = os.path.join(conf_dir, "nginx.conf")
        with open(top, "w") as f:
            f.write(f'''{user_line}
worker_processes 2;
pid {self.dir}/nginx.pid;
error_log {error_log} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    fastcgi_temp_path {temp}/fastcgi;
    proxy_temp_path {temp}/proxy;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        include billing-checkout.conf;
    }}
}}
''')
        check = subprocess.run(["nginx", "-t", "-p", self.dir, "-c", top], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t: {check.stderr.strip()}")
        self.proc = start(["nginx", "-p", self.dir, "-c", top, "-g", "daemon off;"],
                          os.path.join(self.dir, "server.out"))
        wait_for_port(port, self.proc)
        return port


MOUNTS = {m.name: m for m in (Lighttpd, ApacheFcgid, ApacheProxyFcgi, ApacheCgi, NginxSpawnFcgi)}
CONCURRENCY_MOUNTS = ("lighttpd", "apache-fcgid")


# ---------------------------------------------------------------- HTTP cases


def http_request(port, method, path, body=None, headers=None, chunked=False, timeout=30):
    """Sends one request over a fresh HTTP/1.1 connection; returns (status, {lower-name: value}, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = dict(headers or {})
        if chunked:
            data = body
            conn.putrequest(method, path)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            # Two chunks, so the server really has to put the body together.
            half = len(data) // 2
            for part in (data[:half], data[half:]):
                conn.send(b"%x\r\n%s\r\n" % (len(part), part))
            conn.send(b"0\r\n\r\n")
        else:
            conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        collected = {}
        for name, value in response.getheaders():
            key = name.lower()
            collected[key] = collected[key] + ", " + value if key in collected else value
        return response.status, collected, data
    finally:
        conn.close()


def auth(extra=None):
    headers = {"Authorization": f"Bearer {token()}"}
    headers.update(extra or {})
    return headers


JSON = {"Content-Type": "application/json"}
JSON_HEADERS = {"content-type": "application/json", "cache-control": "no-store"}
CORS_ON_RESPONSE = {"access-control-allow-origin": FRONTEND}


def missing_item():
    return {"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}


def attributes_item(value):
    return {"type": "model_attributes_type", "loc": ["body"],
            "msg": "Input should be a valid dictionary or object to extract fields from", "input": value}


GOOD_BODY = json.dumps({"success_url": f"{FRONTEND}/dashboard?success=true&s={{CHECKOUT_SESSION_ID}}",
                        "cancel_url": f"{FRONTEND}/dashboard?canceled=true"}).encode()

# name, request kwargs (built lazily so tokens are fresh), expected status, expected JSON (None: empty), headers
CASES = [
    ("success", lambda: dict(method="POST", path=ROUTE, body=GOOD_BODY,
                             headers=auth({**JSON, "Origin": FRONTEND})),
     200, {"url": URL_PLACEHOLDER}, {**JSON_HEADERS, **CORS_ON_RESPONSE}),
    ("success-default-urls", lambda: dict(method="POST", path=ROUTE, body=b"{}", headers=auth(JSON)),
     200, {"url": URL_PLACEHOLDER}, JSON_HEADERS),
    ("401-no-token", lambda: dict(method="POST", path=ROUTE, body=GOOD_BODY, headers=JSON),
     401, {"detail": "Not authenticated"}, {**JSON_HEADERS, "www-authenticate": "Bearer"}),
    ("401-bad-token", lambda: dict(method="POST", path=ROUTE, body=GOOD_BODY,
                                   headers={**JSON, "Authorization": "Bearer " + token()[:-4] + "AAAA"}),
     401, {"detail": "Could not validate credentials"}, {**JSON_HEADERS, "www-authenticate": "Bearer"}),
    ("422-empty-body", lambda: dict(method="POST", path=ROUTE, body=b"", headers=auth(JSON)),
     422, {"detail": [missing_item()]}, JSON_HEADERS),
    ("422-invalid-json", lambda: dict(method="POST", path=ROUTE, body=b'{"success_url": ', headers=auth(JSON)),
     422, {"detail": [{"type": "json_invalid", "loc": ["body", 16], "msg": "JSON decode error", "input": {},
                       "ctx": {"error": "Expecting value"}}]}, JSON_HEADERS),
    ("422-json-array", lambda: dict(method="POST", path=ROUTE, body=b'["a", 1]', headers=auth(JSON)),
     422, {"detail": [attributes_item(["a", 1])]}, JSON_HEADERS),
    ("422-text-plain", lambda: dict(method="POST", path=ROUTE, body=b'{"success_url":"x"}',
                                    headers=auth({"Content-Type": "text/plain"})),
     422, {"detail": [attributes_item('{"success_url":"x"}')]}, JSON_HEADERS),
    ("422-success-url-number", lambda: dict(method="POST", path=ROUTE, body=b'{"success_url":1}',
                                            headers=auth(JSON)),
     422, {"detail": [{"type": "string_type", "loc": ["body", "success_url"], "msg": "Input should be a valid string",
                       "input": 1}]}, JSON_HEADERS),
    ("422-foreign-origin", lambda: dict(method="POST", path=ROUTE,
                                        body=b'{"success_url":"https://evil.example/steal"}', headers=auth(JSON)),
     422, "value_error", JSON_HEADERS),
    ("404-other-path", lambda: dict(method="POST", path="/api/v1/billing/nope", body=b"{}", headers=auth(JSON)),
     404, {"detail": "Not Found"}, JSON_HEADERS),
    ("405-get", lambda: dict(method="GET", path=ROUTE, headers=auth()),
     405, {"detail": "Method Not Allowed"}, {**JSON_HEADERS, "allow": "POST, OPTIONS"}),
    ("413-large-body", lambda: dict(method="POST", path=ROUTE,
                                    body=b'{"success_url":"' + b"a" * (70000 - 18) + b'"}', headers=auth(JSON)),
     413, {"detail": "Request body too large"}, JSON_HEADERS),
    # Just under the web servers' 1 MiB cap: it must still reach the binary and get its JSON 413.
    ("413-body-under-server-cap", lambda: dict(method="POST", path=ROUTE,
                                               body=b'{"success_url":"' + b"a" * (1000 * 1024 - 18) + b'"}',
                                               headers=auth(JSON)),
     413, {"detail": "Request body too large"}, JSON_HEADERS),
    ("cors-preflight", lambda: dict(method="OPTIONS", path=ROUTE, headers={
        "Origin": FRONTEND, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"}),
     204, None, {"access-control-allow-origin": FRONTEND, "access-control-allow-methods": "POST, OPTIONS",
                 "access-control-allow-headers": "Authorization, Content-Type, Idempotency-Key",
                 "access-control-max-age": "600"}),
    ("chunked-body", lambda: dict(method="POST", path=ROUTE, body=GOOD_BODY, headers=auth(JSON), chunked=True),
     200, {"url": URL_PLACEHOLDER}, JSON_HEADERS),
    ("query-string", lambda: dict(method="POST", path=ROUTE + "?ref=pricing&x=1", body=GOOD_BODY,
                                  headers=auth(JSON)),
     200, {"url": URL_PLACEHOLDER}, JSON_HEADERS),
]


def normalize(status, headers, body):
    """What must be identical across mounts: status, JSON (session URL replaced) and contract headers."""
    parsed = None
    if body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = {"<not json>": body[:200].decode(errors="replace")}
    url = None
    if isinstance(parsed, dict) and isinstance(parsed.get("url"), str):
        url = parsed["url"]
        parsed = dict(parsed, url=URL_PLACEHOLDER)
    contract = {k: v for k, v in headers.items()
                if k in CONTRACT_HEADERS or k.startswith("access-control-")}
    return (status, parsed, contract), url, body


def check_case(port, case):
    name, build, want_status, want_json, want_headers = case
    status, headers, body = http_request(port, **build())
    observed, url, raw = normalize(status, headers, body)
    problems = []
    if status != want_status:
        problems.append(f"status {status}, want {want_status}")
    got_json = observed[1]
    if want_json == "value_error":
        items = got_json.get("detail") if isinstance(got_json, dict) else None
        if not (isinstance(items, list) and len(items) == 1 and items[0].get("type") == "value_error"
                and items[0].get("loc") == ["body", "success_url"]
                and items[0].get("msg", "").startswith("Value error, ")):
            problems.append(f"body {got_json}, want one value_error item for success_url")
    elif got_json != want_json:
        problems.append(f"body {raw[:300]!r}, want {json.dumps(want_json)}")
    if url is not None and not url.startswith("https://checkout.stripe.com/c/pay/cs_test_"):
        problems.append(f"session url {url}")
    if observed[2] != want_headers:
        problems.append(f"headers {observed[2]}, want {want_headers}")
    # Byte-level body check: the raw body must be the binary's compact JSON.
    return observed, raw if url is None else raw.replace(url.encode(), URL_PLACEHOLDER.encode()), problems


# ---------------------------------------------------------------- concurrency


def concurrency(port, mount, count=200, latency_ms=300):
    """200 requests at once with Stripe answering after 300 ms: all must get their own session, in parallel.

    Served one at a time they would take at least 200 x 0.3 s = 60 s. lighttpd (2 processes x WORKERS) takes
    about 1.4 s. mod_fcgid sends one request at a time to each process and a request that finds every process
    busy sleeps a whole second before it looks again, so there the burst takes about count / 32 seconds
    (7 s on the 2-CPU development machine, 7.3 s with everything on one CPU); its limit leaves room for a slower machine (one CI run took 23 s) and the
    check that mod_fcgid started processes for the burst says directly that it was spread.
    """
    stand_in = mount.stand_in
    stand_in.control("POST", "/_standin/latency", {"ms": latency_ms})
    starts_before = mount.process_starts()
    results = [None] * count
    barrier = threading.Barrier(count)

    def one(i):
        headers = {"Authorization": f"Bearer {token(f'user_conc_{i}')}", **JSON}
        try:
            barrier.wait(timeout=30)
            began = time.monotonic()
            status, response_headers, body = http_request(port, "POST", ROUTE, body=b"{}", headers=headers,
                                                          timeout=60)
            results[i] = (status, response_headers, body, time.monotonic() - began)
        except Exception as error:
            results[i] = (None, {}, str(error).encode(), None)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    started = time.monotonic()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    stand_in.control("POST", "/_standin/latency", {"ms": 0})
    started_processes = mount.process_starts() - starts_before
    statuses = {}
    urls = set()
    for status, _, body, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            urls.add(json.loads(body)["url"])
    problems = []
    if statuses.get(200) != count:
        errors = sorted({body[:120].decode(errors="replace") for status, _, body, _ in results if status != 200})
        problems.append(f"statuses {statuses}; first errors: {errors[:3]}")
    if len(urls) != count:
        problems.append(f"{len(urls)} distinct session urls, want {count}")
    if elapsed >= mount.burst_limit_s:
        problems.append(f"took {elapsed:.1f} s, want < {mount.burst_limit_s} s")
    if started_processes < mount.burst_min_new_processes:
        problems.append(f"{started_processes} processes started for the burst, want >= {mount.burst_min_new_processes}")
    if problems:
        answered = sorted(seconds for *_, seconds in results if seconds is not None)
        per_second = {}
        for seconds in answered:
            per_second[int(seconds)] = per_second.get(int(seconds), 0) + 1
        problems.append(f"answers per second of waiting {dict(sorted(per_second.items()))}")
    return elapsed, started_processes, problems


def slow_bodies(port, count=6):
    """Clients that send one byte of their body and stop must not keep the binary from serving others.

    mod_proxy_fcgi passes a body on as the client sends it, so there the binary itself waits on those bodies
    (the others send a body whole, after reading it themselves). With `tasks`, six such clients once took every
    accepting thread and the next request timed out.
    """
    clients = []
    problems = []
    try:
        for _ in range(count):
            client = socket.create_connection(("127.0.0.1", port), timeout=10)
            client.sendall((f"POST {ROUTE} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token()}\r\n"
                            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{").encode())
            clients.append(client)
        time.sleep(0.5)
        started = time.monotonic()
        try:
            status, _, body = http_request(port, "POST", ROUTE, body=b"{}", headers=auth(JSON), timeout=10)
            if status != 200:
                problems.append(f"status {status} {body[:120]!r}")
        except Exception as error:
            problems.append(f"{type(error).__name__}: {error} after {time.monotonic() - started:.1f} s")
    finally:
        for client in clients:
            client.close()
    return problems


HUGE_BODY_BYTES = 30 * 1024 * 1024
# The shipped configs cap bodies at 1 MiB in the web server. A 30 MiB body must be answered while most of it is
# still unsent: refused on its Content-Length, the client gets its answer after about 0.2 MiB (what the socket
# buffers take in); a chunked one after about 1.1-1.3 MiB (the cap, read), or about 3 MiB through mod_proxy_fcgi,
# which streams it to the binary. A server that buffers the body before it answers (no cap) takes all 30 MiB.
HUGE_BODY_MAX_SENT = 8 * 1024 * 1024


def huge_body(port, chunked=False, want_status=413, server_page=False, total=HUGE_BODY_BYTES, timeout=60.0):
    """A valid token and `Content-Length: 30 MiB` (or a chunked body of that size), the body streamed as fast as
    the server takes it.

    Returns (status, whether the answer is the binary's JSON 413, body bytes the socket had accepted when the
    answer began, problems). The request must be refused (want_status) before the client could send more than
    HUGE_BODY_MAX_SENT of it, i.e. without the server taking in the body; with server_page, by the web server
    itself rather than the binary. Every web server refuses a Content-Length above its cap at once with its own
    413 page (HTML), and a chunked body once it has read past the cap (413; mod_fcgid 500); mod_proxy_fcgi
    streams a chunked body to the binary, which answers its JSON 413.
    """
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A fixed small send buffer (no autotuning), so "accepted by the socket" is close to "read by the server".
    client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    client.settimeout(10)
    client.connect(("127.0.0.1", port))
    piece = b"a" * (64 * 1024)
    last = b""
    if chunked:
        # The same bytes in 64 KiB chunks, then the last chunk; "sent" counts them with their framing.
        piece = b"%x\r\n%s\r\n" % (len(piece), piece)
        last = b"0\r\n\r\n"
        framing = "Transfer-Encoding: chunked"
    else:
        framing = f"Content-Length: {total}"
    wire = (total // (64 * 1024)) * len(piece) + len(last)
    pending = b""
    sent = 0
    sent_at_answer = None
    response = b""
    send_error = None
    problems = []
    try:
        client.sendall((f"POST {ROUTE} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token()}\r\n"
                        f"Content-Type: application/json\r\n{framing}\r\n\r\n").encode())
        client.setblocking(False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # Stop sending as soon as the answer begins (the server may go on reading to discard the body).
            want_write = [client] if sent_at_answer is None and sent < wire and send_error is None else []
            readable, writable, _ = select.select([client], want_write, [], 1.0)
            if readable:
                try:
                    data = client.recv(65536)
                except ConnectionResetError as error:
                    send_error = send_error or error
                    break
                if not data:
                    break
                if sent_at_answer is None:
                    sent_at_answer = sent
                response += data
                head, separator, body = response.partition(b"\r\n\r\n")
                if separator and b"\r\ncontent-length:" in head.lower():
                    length = int(head.lower().split(b"\r\ncontent-length:", 1)[1].split(b"\r\n", 1)[0])
                    if len(body) >= length:
                        break
                elif separator and body.endswith(b"\r\n0\r\n\r\n"):
                    break
            elif writable:
                if not pending:
                    pending = piece if wire - sent > len(last) else last
                try:
                    n = client.send(pending)
                    sent += n
                    pending = pending[n:]
                except (BrokenPipeError, ConnectionResetError) as error:
                    # The server closed its end; keep reading whatever answer it sent first.
                    send_error = error
        else:
            problems.append(f"no complete answer within {timeout:.0f} s ({sent} body bytes sent)")
    finally:
        client.close()
    status = None
    if response.startswith(b"HTTP/"):
        status = int(response.split(b" ", 2)[1])
    by_binary = b'{"detail":"Request body too large"}' in response
    if status != want_status:
        problems.append(f"status {status} ({response[:120]!r}; send error {send_error!r}), want {want_status}")
    if server_page and by_binary:
        problems.append("the binary answered: the web server passed the request on instead of refusing it")
    if sent_at_answer is None:
        problems.append(f"no answer; {sent} of {wire} body bytes sent")
    elif sent_at_answer > HUGE_BODY_MAX_SENT:
        problems.append(f"answered only after {sent_at_answer} of {wire} body bytes were sent "
                        f"(> {HUGE_BODY_MAX_SENT}): the server read the body instead of refusing it")
    return status, by_binary, sent_at_answer, problems


# ---------------------------------------------------------------- main


def main():
    global VERBOSE
    parser = argparse.ArgumentParser(description="billing-checkout behind real web servers")
    parser.add_argument("--mount", choices=sorted(MOUNTS), action="append")
    parser.add_argument("-v", "--verbose", action="store_true", help="print server logs on failure")
    args = parser.parse_args()
    VERBOSE = args.verbose
    names = args.mount or list(MOUNTS)
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    passed = failed = 0
    reference = {}  # case -> (mount, observed, raw body) of the first mount that ran it

    def report(ok, mount, case, why=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"ok {mount} {case}", flush=True)
        else:
            failed += 1
            print(f"FAIL {mount} {case}: {why}", flush=True)

    for name in names:
        mount = None
        mount_failed = False
        try:
            mount = MOUNTS[name]()
            port = mount.start()
            report(True, name, "start")
            for case in CASES:
                try:
                    observed, raw, problems = check_case(port, case)
                    if case[0] in reference:
                        other, other_observed, other_raw = reference[case[0]]
                        if observed != other_observed or raw != other_raw:
                            problems.append(f"differs from {other}: {observed} {raw[:200]!r} vs "
                                            f"{other_observed} {other_raw[:200]!r}")
                    else:
                        reference[case[0]] = (name, observed, raw)
                    report(not problems, name, case[0], "; ".join(problems))
                    mount_failed |= bool(problems)
                except Exception as error:
                    report(False, name, case[0], f"{type(error).__name__}: {error}")
                    mount_failed = True
            # A body far over the web server's cap: refused while most of it is unsent (huge_body).
            for chunked in (False, True):
                status, by_binary, sent_at_answer, problems = huge_body(
                    port, chunked=chunked, want_status=mount.huge_chunked_status if chunked else 413,
                    server_page=not chunked)
                print(f"# {name}: {HUGE_BODY_BYTES >> 20} MiB body ({'chunked' if chunked else 'Content-Length'}) "
                      f"answered {status} by the {'binary' if by_binary else 'web server'} after "
                      f"{(sent_at_answer or 0) / 1024:.0f} KiB of it had been sent", flush=True)
                report(not problems, name, "huge-body-chunked" if chunked else "413-huge-body", "; ".join(problems))
                mount_failed |= bool(problems)
            problems = slow_bodies(port)
            report(not problems, name, "slow-bodies", "; ".join(problems))
            mount_failed |= bool(problems)
            if name in CONCURRENCY_MOUNTS:
                elapsed, started_processes, problems = concurrency(port, mount)
                print(f"# {name}: 200 concurrent requests at 300 ms Stripe latency took {elapsed:.2f} s; "
                      f"processes started meanwhile: {started_processes}", flush=True)
                report(not problems, name, "concurrency-200", "; ".join(problems))
                mount_failed |= bool(problems)
        except Exception as error:
            report(False, name, "start", f"{type(error).__name__}: {error}")
            mount_failed = True
        finally:
            if mount_failed and VERBOSE and mount is not None:
                mount.print_logs()
            for proc in reversed(list(PROCESSES)):
                stop(proc)
            if mount is not None:
                shutil.rmtree(mount.dir, ignore_errors=True)
    cleanup()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The Stripe stand-in, settings, and the web servers that mount billing-checkout under /api/.

Each mount starts a web server with the shipped config from conf/, rendered for paths and ports only, and its
own Stripe stand-in (the stripe-stand-in binary). The lighttpd start is shared with the benchmark
(start_lighttpd). Binaries: BILLING_CHECKOUT_BIN / STAND_IN_BINARY, else .build/debug/.
"""
import http.client
import json
import os
import pwd
import re
import shutil
import subprocess
import time

from . import CONF, FRONTEND, ROOT
from .processes import PROCESSES, SERVER_USER, free_port, give_to_server_user, make_temp_dir, start, wait_for_port
from .tokens import TEST_SECRET

BIN = os.environ.get("BILLING_CHECKOUT_BIN") or os.path.join(ROOT, ".build", "debug", "billing-checkout")
STAND_IN = os.environ.get("STAND_IN_BINARY") or os.path.join(ROOT, ".build", "debug", "stripe-stand-in")
APACHE_MODULES = "/usr/lib/apache2/modules"
LIGHTTPD_CONF = "lighttpd/billing-checkout.conf"


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


def write_settings(workdir, stand_in, workers=64, database_url="none", webhook_secret=None):
    """The binary's settings file in workdir, pointed at the stand-in.

    Stateless by default (database_url "none"), as the contract's cases expect: every checkout calls Stripe. The
    billing loop's checks pass "sqlite:/path" and the whsec_ secret the stand-in signs its events with.
    """
    path = os.path.join(workdir, "config.json")
    stripe = {"secretKey": "sk_test_standin", "priceId": "price_standin_basic",
              "prices": {"pro": "price_standin_pro"}, "apiBase": stand_in.base}
    if webhook_secret is not None:
        stripe["webhookSecret"] = webhook_secret
    settings = {
        "stripe": stripe,
        "jwt": {"secret": TEST_SECRET},
        "frontendUrl": FRONTEND,
        "corsOrigins": [FRONTEND],
        "workers": workers,
        "database": {"url": database_url},
    }
    with open(path, "w") as f:
        json.dump(settings, f)
    # Secrets inside: readable by root and the server's group only.
    if SERVER_USER:
        os.chown(path, 0, pwd.getpwnam(SERVER_USER).pw_gid)
    os.chmod(path, 0o640)
    return path


def state_dir(workdir):
    """A directory for the billing state's SQLite file, writable by the user the web server runs the binary as."""
    path = os.path.join(workdir, "state")
    os.makedirs(path, exist_ok=True)
    if SERVER_USER:
        entry = pwd.getpwnam(SERVER_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(path, 0o770)
    return path


def binary_env(settings_path, **extra):
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "BILLING_CONFIG": settings_path, "BILLING_ENV_FILE": ""}
    env.update(extra)
    return env


# ---------------------------------------------------------------- lighttpd (also the benchmark's)


def shipped_max_procs():
    """max-procs of the shipped lighttpd config."""
    with open(os.path.join(CONF, LIGHTTPD_CONF)) as f:
        match = re.search(r'"max-procs" *=> *([0-9]+),', f.read())
    if not match:
        raise RuntimeError(f"{LIGHTTPD_CONF}: no max-procs")
    return int(match.group(1))


def start_lighttpd(directory, binary, port, env, log_path, max_procs=None, error_log=None, extra=()):
    """lighttpd -D on 127.0.0.1:port with the shipped conf/lighttpd/billing-checkout.conf, rendered for the binary,
    its socket (in directory) and, when given, max-procs; included from a top-level lighttpd.conf in directory.

    env is the environment of lighttpd (the config copies the settings from it to the binary); the server's
    output goes to log_path (appended), its error log to error_log when given (else to log_path as well); extra:
    more top-level lines. Returns the process once the port answers.
    """
    replacements = {
        "/usr/local/bin/billing-checkout": binary,
        "/run/lighttpd/billing-checkout.sock": os.path.join(directory, "billing-checkout.sock"),
    }
    if max_procs is not None:
        replacements[f'"max-procs" => {shipped_max_procs()},'] = f'"max-procs" => {max_procs},'
    with open(os.path.join(directory, "billing-checkout.conf"), "w") as f:
        f.write(render(LIGHTTPD_CONF, replacements))
    lines = [f'server.document-root = "{directory}"', 'server.bind = "127.0.0.1"', f"server.port = {port}"]
    if error_log is not None:
        lines.append(f'server.errorlog = "{error_log}"')
    lines += list(extra) + [f'include "{directory}/billing-checkout.conf"']
    top = os.path.join(directory, "lighttpd.conf")
    with open(top, "w") as f:
        f.write("\n".join(lines) + "\n")
    check = subprocess.run(["lighttpd", "-tt", "-f", top], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"lighttpd -tt: {check.stderr.strip()}")
    proc = start(["lighttpd", "-D", "-f", top], log_path, env=env)
    wait_for_port(port, proc)
    return proc


# ---------------------------------------------------------------- mounts


class Mount:
    """A web server with the binary mounted under /api/; start() returns the HTTP port."""
    name = ""

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
        error_log = os.path.join(self.dir, "error.log")
        self.logs += [error_log, os.path.join(self.dir, "server.out")]
        self.proc = start_lighttpd(self.dir, BIN, port, binary_env(settings), os.path.join(self.dir, "server.out"),
                                   error_log=error_log, extra=["server.max-connections = 1024"])
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

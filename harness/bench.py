"""Benchmarks billing-checkout: the release binary as FastCGI behind lighttpd (the shipped
conf/lighttpd/billing-checkout.conf, rendered for paths and ports only, as the web-server tests run it) against a
fast static Stripe stand-in (nginx `return 200`) and a 300 ms one (bench/delay_standin.py), with reference
programs measured in the same run: bench/fcgi-static.c (FastCGI ceiling), bench/fcgi-curl.c (the same work in C
with libcurl), bench/URLSessionLoop (raw URLSession ceiling); CGI cold start against bench/hello.swift; memory of
one process; a CPU profile (perf); the billing loop with its SQLite store (checkout as a new user per request, the
reused open session, webhook ingestion, CGI cold start) and the same checkout and CGI requests with the PostgreSQL
store (a private cluster, harness/postgres.py, started for the billing loop and stopped after the CGI run). Prints a summary and writes docs/benchmarks.md (harness/benchdoc.py).

    scripts/bench            default run: 10 s per point (BENCH_DURATION=N to change), ~9 min after builds on 2 CPUs
    scripts/bench --quick    smoke run: 3 s per point, fewer requests for memory, CGI and profile
    scripts/bench --loop     the billing-loop points only (L1, L2, L3, L5), their ratios printed, no doc written

Knobs: BENCH_DURATION, BENCH_MEM_REQUESTS ("50000 150000"), BENCH_PROFILE_REQUESTS (10000), BENCH_CGI_RUNS (100),
BENCH_USERS (80000; distinct users for the billing-loop checkout points), BENCH_EVENTS (60000; webhook events),
BENCH_NO_DOC=1 (do not write docs/benchmarks.md), WORKERS (the binary's default). scripts/bench installs the
Debian packages this needs and runs `python3 -m harness.bench`. Builds into .build-bench (git-ignored); everything
it starts is stopped by PID and process group on exit.
"""
import atexit
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

from . import ROOT, ROUTE, benchdoc, postgres, processes
from .httpclient import http_request
from .mounts import shipped_max_procs, start_lighttpd
from .processes import children, cpu_ticks, free_port, peak_kib, rss_kib, wait_for_port
from .tokens import mint

BODY = ('{"success_url":"http://localhost:3000/dashboard?success=true",'
        '"cancel_url":"http://localhost:3000/dashboard?canceled=true"}')
WARMUP = 1
SCRATCH = os.path.join(ROOT, ".build-bench")
REF = os.path.join(SCRATCH, "bench")
RUN = os.path.join(REF, "run")
# Settings the binary could pick up from the caller's environment; the benchmark sets its own.
UNSET = ("BILLING_CONFIG", "STRIPE_SECRET_KEY_FILE", "STRIPE_PRICES_PRO", "JWT_SECRET_FILE", "JWT_PUBLIC_KEY_FILE",
         "JWT_JWKS_FILE", "JWT_ISSUER", "JWT_AUDIENCE", "ALLOWED_REDIRECT_ORIGINS", "CORS_ORIGINS", "DATABASE_URL",
         "STRIPE_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET_FILE", "STRIPE_WEBHOOK_TOLERANCE_SECONDS", "DATABASE_POOL_SIZE",
         "DATABASE_PASSWORD", "DATABASE_PASSWORD_FILE", "DATABASE_TIMEOUT_SECONDS")
WEBHOOK_ROUTE = ROUTE.rsplit("/", 1)[0] + "/webhook"
SUBSCRIPTION_ROUTE = ROUTE.rsplit("/", 1)[0] + "/subscription"
REUSE_USER = "user_reuse"  # the user of the reused-open-session point (never subscribed)
PG_DATABASE = "bench_loop"  # the PostgreSQL point's database, created empty in the run's cluster
PG_APPLICATION = "billing-checkout"  # the application_name the binary's connections report


def say(text=""):
    print(text, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


def die(message):
    raise BenchError(message)


def output(argv, **kwargs):
    """stdout+stderr of a command (a failing command's output too); returns (exit status, text)."""
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, **kwargs)
    return done.returncode, done.stdout


def settings_default(column, pattern, fallback):
    """A default from docs/settings.md's table (`| `key` | `ENV` | `value` …`)."""
    with open(os.path.join(ROOT, "docs", "settings.md")) as f:
        match = re.search(r"^\| `" + column + r"` \| `[A-Z_]*` \| `(" + pattern + r")`", f.read(), re.M)
    return match.group(1) if match else fallback


def parse_bench(line):
    """The k=v fields of a `BENCH k=v …` line."""
    return dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)


def bench_line(text):
    for line in text.splitlines():
        if line.startswith("BENCH "):
            return line
    return None


# ---------------------------------------------------------------- builds


def build():
    say(f"building billing-checkout (release, static Swift runtime as deployed, {SCRATCH}) …")
    release = ["swift", "build", "-c", "release", "--static-swift-stdlib", "--scratch-path", SCRATCH]
    if subprocess.run(release + ["--product", "billing-checkout"], stdout=sys.stderr, cwd=ROOT).returncode != 0:
        die("swift build failed")
    binary = os.path.join(subprocess.run(release + ["--show-bin-path"], capture_output=True, text=True,
                                         cwd=ROOT).stdout.strip(), "billing-checkout")
    if not os.access(binary, os.X_OK):
        die(f"no binary at {binary}")
    os.makedirs(REF, exist_ok=True)

    def build_if_stale(name, source, *command):
        out = os.path.join(REF, name)
        if not os.access(out, os.X_OK) or os.path.getmtime(os.path.join(ROOT, source)) > os.path.getmtime(out):
            say(f"building {out} …")
            if subprocess.run([c.replace("@OUT@", out) for c in command], cwd=ROOT).returncode != 0:
                die(f"could not build {out}")

    build_if_stale("fcgi-static", "bench/fcgi-static.c", "cc", "-O2", "-o", "@OUT@", "bench/fcgi-static.c", "-lfcgi",
                   "-lpthread")
    build_if_stale("fcgi-curl", "bench/fcgi-curl.c", "cc", "-O2", "-o", "@OUT@", "bench/fcgi-curl.c", "-lfcgi",
                   "-lcurl", "-lpthread")
    # The Swift references are linked like billing-checkout (static Swift runtime), so that only the work differs.
    build_if_stale("urlsession-loop", "bench/URLSessionLoop/main.swift", "swiftc", "-O", "-static-stdlib",
                   "-suppress-warnings", "bench/URLSessionLoop/main.swift", "-o", "@OUT@")
    build_if_stale("hello", "bench/hello.swift", "swiftc", "-O", "-static-stdlib", "bench/hello.swift", "-o", "@OUT@")
    build_if_stale("hello-foundation", "bench/hello.swift", "swiftc", "-O", "-static-stdlib", "-DWITH_FOUNDATION",
                   "bench/hello.swift", "-o", "@OUT@")
    build_if_stale("noop", "bench/noop.c", "gcc", "-O2", "bench/noop.c", "-o", "@OUT@")
    build_if_stale("noop-libcurl", "bench/noop.c", "gcc", "-O2", "bench/noop.c", "-Wl,--no-as-needed", "-lcurl", "-o",
                   "@OUT@")
    return binary


# ---------------------------------------------------------------- the run


class Bench:
    body, warmup, ref = BODY, WARMUP, REF

    def __init__(self, quick):
        env = os.environ
        self.quick = quick
        self.duration = int(env.get("BENCH_DURATION") or (3 if quick else 10))
        first, second = (env.get("BENCH_MEM_REQUESTS") or ("5000 15000" if quick else "50000 150000")).split()
        self.mem_requests = (int(first), int(second))
        self.profile_requests = int(env.get("BENCH_PROFILE_REQUESTS") or (2000 if quick else 10000))
        self.cgi_runs = int(env.get("BENCH_CGI_RUNS") or (20 if quick else 100))
        # The binary's default worker count (docs/settings.md), so the C references get the same thread count.
        self.workers = int(env.get("WORKERS") or settings_default("workers", "[0-9]*", "64") or 64)
        # The default FASTCGI_DISPATCH (docs/settings.md) gives the target rows; the other one is measured next to it.
        self.dispatch = settings_default("fastcgiDispatch", "[a-z]*", "threads") or "threads"
        self.other_dispatch = "tasks" if self.dispatch == "threads" else "threads"
        self.shipped_max_procs = shipped_max_procs()
        self.clk_tck = os.sysconf("SC_CLK_TCK")
        self.results = {}  # point key -> {field: value}
        self.points = []  # keys, in the order measured
        self.rows = []  # the table rows, as printed
        self.lighttpd = None
        self.lighttpd_count = 0
        # The billing loop: lines in the pre-made request files (a new user / a new event per request).
        self.user_count = int(env.get("BENCH_USERS") or (30000 if quick else 80000))
        self.event_count = int(env.get("BENCH_EVENTS") or (20000 if quick else 60000))
        self.pg = None  # the run's PostgreSQL cluster (harness/postgres.py), while the billing loop and CGI run
        self.pg_url = None  # the PostgreSQL point's database (its password only in the environment, never in argv)
        self.pg_info = {}

    # ------------------------------------------------ set-up

    def prepare(self):
        env = os.environ
        env["FASTCGI_DISPATCH"] = self.dispatch
        env.update(STRIPE_SECRET_KEY="sk_test_bench", STRIPE_PRICE_ID="price_bench", FRONTEND_URL="http://localhost:3000",
                   BILLING_ENV_FILE="", JWT_SECRET="bench-secret-" + os.urandom(24).hex(), WORKERS=str(self.workers),
                   LOG_LEVEL="info")
        for name in UNSET:
            env.pop(name, None)
        # Stateless unless a point says otherwise: the default DATABASE_URL (docs/settings.md) is a file under
        # /var/lib that FastCGI refuses to start without.
        env["DATABASE_URL"] = "none"
        self.database = os.path.join(RUN, "billing.sqlite")
        self.webhook_secret = "whsec_bench_" + os.urandom(16).hex()
        self.token = mint(env["JWT_SECRET"], "user_bench", ttl=7200, email="dev@example.com")
        env["BENCH_TOKEN"], env["BENCH_BODY"] = self.token, BODY  # for bench/checkout.lua
        shutil.rmtree(RUN, ignore_errors=True)
        os.makedirs(RUN)
        self.body_file = os.path.join(RUN, "body.json")
        with open(self.body_file, "w") as f:
            f.write(BODY)
        # One bearer token per line, a new user each (bench/cycle.lua); and the one user of the reuse point.
        self.users_file = os.path.join(RUN, "users.txt")
        with open(self.users_file, "w") as f:
            for i in range(self.user_count):
                user = f"user_b{i:06d}"
                f.write("Bearer " + mint(env["JWT_SECRET"], user, ttl=7200, email=f"{user}@example.com") + "\n")
        self.reuse_token = mint(env["JWT_SECRET"], REUSE_USER, ttl=7200, email="reuse@example.com")
        self.reuse_file = os.path.join(RUN, "reuse.txt")
        with open(self.reuse_file, "w") as f:
            f.write("Bearer " + self.reuse_token + "\n")
        fast_port, slow_port, self.lport = free_port(), free_port(), free_port()
        self.fast_base = f"http://127.0.0.1:{fast_port}"
        self.slow_base = f"http://127.0.0.1:{slow_port}"
        self.endpoint = f"http://127.0.0.1:{self.lport}{ROUTE}"

        with open(os.path.join(ROOT, "bench", "nginx.conf.in")) as f:
            conf = f.read().replace("@RUN@", RUN).replace("@PORT@", str(fast_port))
        nginx_conf = os.path.join(RUN, "nginx.conf")
        with open(nginx_conf, "w") as f:
            f.write(conf)
        status, text = output(["nginx", "-t", "-c", nginx_conf, "-p", RUN])
        with open(os.path.join(RUN, "nginx.out"), "w") as f:
            f.write(text)
        if status != 0:
            say(text)
            die("nginx config")
        nginx = processes.start(["nginx", "-c", nginx_conf, "-p", RUN], os.path.join(RUN, "nginx.out"))
        slow = processes.start([sys.executable, os.path.join(ROOT, "bench", "delay_standin.py"), str(slow_port), "0.3"],
                               os.path.join(RUN, "delay-standin.out"))
        wait_for_port(fast_port, nginx)
        wait_for_port(slow_port, slow)
        time.sleep(0.3)

    # ------------------------------------------------ lighttpd

    def stop_lighttpd(self):
        if self.lighttpd is not None:
            processes.stop(self.lighttpd)
            self.lighttpd = None

    def start_lighttpd(self, binary, procs, base, patience=20):
        """The shipped config with the binary, the socket and max-procs filled in; settings from this process's
        environment (bin-copy-environment). Returns once the endpoint has answered a valid request with 200."""
        self.stop_lighttpd()
        os.environ["STRIPE_API_BASE"] = base
        log = os.path.join(RUN, "lighttpd.log")
        with open(log, "a") as f:
            f.write(f"=== {time.strftime('%H:%M:%S')} {binary} max-procs={procs} base={base} "
                    f"LOG_LEVEL={os.environ['LOG_LEVEL']}\n")
        self.lighttpd = start_lighttpd(RUN, binary, self.lport, dict(os.environ), log, max_procs=procs)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        status, body = None, b""
        for _ in range(patience * 2):
            try:
                status, _, body = http_request(self.lport, "POST", ROUTE, body=BODY.encode(), headers=headers,
                                               timeout=patience)
            except OSError as error:
                status, body = None, str(error).encode()
            if status == 200:
                break
            time.sleep(0.5)
        if status != 200:
            with open(log, errors="replace") as f:
                say("\n".join(f.read().splitlines()[-20:]))
            say(body.decode(errors="replace"))
            die(f"no 200 from {binary} ({status})")

    def server_pids(self):
        return children(self.lighttpd.pid) if self.lighttpd is not None else []

    # ------------------------------------------------ points

    def wrk(self, c, seconds, url, cycle=None):
        """wrk with bench/checkout.lua, or with bench/cycle.lua when cycle = {"file", "header", "next"} (a
        file of pre-made requests, read from line `next` on; `next` is moved past the lines used)."""
        threads = 1 if c < 2 else 2
        if cycle is None:
            return output(["wrk", f"-t{threads}", f"-c{c}", f"-d{seconds}s", "--timeout", "10s", "-s",
                           "bench/checkout.lua", url])
        status, text = output(["wrk", f"-t{threads}", f"-c{c}", f"-d{seconds}s", "--timeout", "10s", "-s",
                               "bench/cycle.lua", url, "--", cycle["file"], cycle["header"], str(cycle["next"]),
                               str(threads)])
        fields = parse_bench(bench_line(text) or "BENCH")
        if "next_index" in fields:
            cycle["next"] = int(fields["next_index"])
            cycle["wrapped"] = cycle.get("wrapped", False) or fields["wrapped"] == "1"
        return status, text

    def wrk_point(self, key, label, c, url, cycle=None):
        """Warm-up, then `duration` s of wrk, with the CPU and peak RSS of the processes lighttpd runs (none when
        the URL is a stand-in)."""
        _, text = self.wrk(c, WARMUP, url, cycle)
        point = {"warmup": parse_bench(bench_line(text) or "BENCH")}
        pids = self.server_pids()
        perf = None
        if os.environ.get("BENCH_PERF") and pids:
            perf = subprocess.Popen(["perf", "record", "-q", "-g", "-e", "cpu-clock", "-o",
                                     os.path.join(os.environ["BENCH_PERF"], key + ".data"),
                                     "-p", ",".join(map(str, pids))],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = cpu_ticks(pids)
        status, text = self.wrk(c, self.duration, url, cycle)
        t1 = cpu_ticks(pids)
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=60)
        if status != 0:
            say(text)
            die(f"wrk failed for {label}")
        line = bench_line(text)
        if line is None:
            say(text)
            die(f"no summary from wrk for {label}")
        point.update(parse_bench(line), label=label, c=str(c))
        point["ok_rps"] = "%.1f" % ((int(point["requests"]) - int(point["non2xx"]))
                                    / (float(point["duration_us"]) / 1e6))
        point["first_bad"] = "\n".join(l[len("BENCH_FIRST_BAD "):] for l in text.splitlines()
                                       if l.startswith("BENCH_FIRST_BAD "))
        if pids:
            point["cpu_per_1k"] = "%.3f" % ((t1 - t0) / self.clk_tck / float(point["requests"]) * 1000)
            point["hwm_mb"] = "%.1f" % (peak_kib(pids) / 1024)
        else:
            point["cpu_per_1k"] = point["hwm_mb"] = "-"
        self.add(key, point)

    def usl_point(self, key, label, n, base):
        """The raw URLSession loop (its own CPU and peak RSS)."""
        status, text = output([os.path.join(REF, "urlsession-loop"), base, str(n), str(self.duration)])
        if status != 0:
            say(text)
            die("urlsession-loop failed")
        line = bench_line(text)
        if line is None:
            say(text)
            die("no summary from urlsession-loop")
        point = parse_bench(line)
        point.update(label=label, c=str(n))
        point["cpu_per_1k"] = "%.3f" % (float(point["cpu_s"]) / float(point["requests"]) * 1000)
        point["hwm_mb"] = "%.1f" % (float(point["hwm_kb"]) / 1024)
        self.add(key, point)

    def add(self, key, point):
        self.results[key] = point
        self.points.append(key)
        row = benchdoc.row(point)
        self.rows.append(row)
        say(row)

    def ab(self, n, c=32):
        """n requests at concurrency c (apache2-utils ab: exact counts): (complete, failed, non-2xx)."""
        if n <= 0:
            return 0, 0, 0
        status, text = output(["ab", "-q", "-k", "-c", str(c), "-n", str(n), "-s", "30", "-p", self.body_file, "-T",
                               "application/json", "-H", f"Authorization: Bearer {self.token}", self.endpoint])
        if status != 0:
            say(text)
            die("ab failed")

        def count(name):
            match = re.search(r"^" + name + r":\s+(\d+)", text, re.M)
            return int(match.group(1)) if match else 0
        return count("Complete requests"), count("Failed requests"), count("Non-2xx responses")

    # ------------------------------------------------ phases

    def load_points(self, binary):
        fast, slow, endpoint, dispatch = self.fast_base, self.slow_base, self.endpoint, self.dispatch
        procs, env = self.shipped_max_procs, os.environ
        # Stand-ins alone.
        self.wrk_point("sf_1", "fast stand-in alone (nginx return 200)", 1, f"{fast}/v1/checkout/sessions")
        self.wrk_point("ss_256", "300 ms stand-in alone (delay_standin.py)", 256, f"{slow}/v1/checkout/sessions")
        # (c) raw URLSession ceiling.
        for n in (1, 32, 256):
            self.usl_point(f"usl_fast_{n}", "(c) raw URLSession loop -> fast stand-in", n, fast)
        self.usl_point("usl_slow_256", "(c) raw URLSession loop -> 300 ms stand-in", 256, slow)
        # billing-checkout through lighttpd, shipped max-procs.
        env["LOG_LEVEL"] = "info"
        self.start_lighttpd(binary, procs, fast)
        for c in (1, 32, 256):
            self.wrk_point(f"ep_info_fast_{c}", f"billing-checkout LOG_LEVEL=info ({dispatch}) -> fast stand-in", c,
                           endpoint)
        env["LOG_LEVEL"] = "warning"
        self.start_lighttpd(binary, procs, fast)
        for c in (1, 32, 256):
            self.wrk_point(f"ep_warn_fast_{c}", f"billing-checkout LOG_LEVEL=warning ({dispatch}) -> fast stand-in", c,
                           endpoint)
        env["LOG_LEVEL"] = "info"
        self.start_lighttpd(binary, procs, slow)
        self.wrk_point("ep_info_slow_256", f"billing-checkout LOG_LEVEL=info ({dispatch}) -> 300 ms stand-in", 256,
                       endpoint)
        # The other way of serving requests (DESIGN: measure which is faster).
        env["FASTCGI_DISPATCH"] = self.other_dispatch
        self.start_lighttpd(binary, procs, fast)
        for c in (1, 32, 256):
            self.wrk_point(f"ep_other_fast_{c}", f"billing-checkout FASTCGI_DISPATCH={self.other_dispatch} -> fast stand-in",
                           c, endpoint)
        self.start_lighttpd(binary, procs, slow)
        self.wrk_point("ep_other_slow_256", f"billing-checkout FASTCGI_DISPATCH={self.other_dispatch} -> 300 ms stand-in",
                       256, endpoint)
        env["FASTCGI_DISPATCH"] = dispatch
        # (a) FastCGI ceiling, (b) the same work in C with libcurl.
        self.start_lighttpd(os.path.join(REF, "fcgi-static"), procs, fast)
        for c in (1, 32, 256):
            self.wrk_point(f"static_{c}", f"(a) fcgi-static.c (libfcgi, {self.workers} threads)", c, endpoint)
        self.start_lighttpd(os.path.join(REF, "fcgi-curl"), procs, fast)
        for c in (1, 32, 256):
            self.wrk_point(f"curl_fast_{c}", "(b) fcgi-curl.c (libfcgi+libcurl) -> fast stand-in", c, endpoint)
        self.start_lighttpd(os.path.join(REF, "fcgi-curl"), procs, slow)
        self.wrk_point("curl_slow_256", "(b) fcgi-curl.c -> 300 ms stand-in", 256, endpoint)
        self.stop_lighttpd()

    def events_file(self, n):
        """n distinct `customer.subscription.updated` events for sub_bench, each signed now as Stripe signs them:
        one line per event, `t=…,v1=…` TAB body (bench/cycle.lua)."""
        path = os.path.join(RUN, "events.txt")
        now = int(time.time())
        secret = self.webhook_secret.encode()
        prefix = os.urandom(4).hex()
        with open(path, "w") as f:
            for i in range(n):
                body = json.dumps({
                    "id": f"evt_bench{prefix}{i:07d}", "object": "event", "api_version": "2024-06-20", "created": now,
                    "data": {"object": {"id": "sub_bench", "object": "subscription", "status": "active",
                                        "customer": "cus_bench", "metadata": {"user_id": "user_bench"}},
                             "previous_attributes": {"status": "incomplete"}},
                    "livemode": False, "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
                    "type": "customer.subscription.updated"}, separators=(",", ":"))
                v1 = hmac.new(secret, f"{now}.{body}".encode(), hashlib.sha256).hexdigest()
                f.write(f"t={now},v1={v1}\t{body}\n")
        return path

    def signed_event(self, event_id):
        """One `customer.subscription.updated` event for sub_bench (user_bench) and its Stripe-Signature header."""
        now = int(time.time())
        body = json.dumps({
            "id": event_id, "object": "event", "api_version": "2024-06-20", "created": now,
            "data": {"object": {"id": "sub_bench", "object": "subscription", "status": "active",
                                "customer": "cus_bench", "metadata": {"user_id": "user_bench"}},
                     "previous_attributes": {"status": "incomplete"}},
            "livemode": False, "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
            "type": "customer.subscription.updated"}, separators=(",", ":"))
        v1 = hmac.new(self.webhook_secret.encode(), f"{now}.{body}".encode(), hashlib.sha256).hexdigest()
        return body, f"t={now},v1={v1}"

    def pg_count(self, table):
        try:
            return int(self.pg.psql(self.pg_url, f"SELECT COUNT(*) FROM {table}"))
        except (RuntimeError, ValueError, subprocess.TimeoutExpired) as error:
            return f"? ({error})"

    def pg_connections(self):
        """Connections the binary's processes hold now (pg_stat_activity, application_name billing-checkout)."""
        try:
            return int(self.pg.psql("postgres", "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = "
                                                f"'{PG_APPLICATION}'", timeout=10))
        except (RuntimeError, ValueError, subprocess.TimeoutExpired):
            return None

    def store_count(self, table):
        import sqlite3
        try:
            with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=10) as db:
                return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        except sqlite3.Error as error:
            return f"? ({error})"

    def loop_points(self, binary):
        """The billing loop at c=32 against the fast stand-in, LOG_LEVEL=info, back to back: checkout as a new
        user per request without and with the SQLite store (the same script, bench/cycle.lua), the reused open
        session (one user, one body), and webhook ingestion (a new signed event per request, each re-reading
        the subscription from the stand-in)."""
        env, procs, fast, endpoint = os.environ, self.shipped_max_procs, self.fast_base, self.endpoint
        say()
        say(f"Billing loop: {self.user_count} users, {self.event_count} events; store {self.database} …")
        env["LOG_LEVEL"] = "info"
        env["DATABASE_URL"] = "none"
        self.start_lighttpd(binary, procs, fast)
        self.wrk_point("loop_none_32", "checkout, a new user per request, DATABASE_URL=none", 32, endpoint,
                       dict(file=self.users_file, header="Authorization", next=0))
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.database + suffix):
                os.remove(self.database + suffix)
        env["DATABASE_URL"] = "sqlite:" + self.database
        env["STRIPE_WEBHOOK_SECRET"] = self.webhook_secret
        try:
            self.start_lighttpd(binary, procs, fast)
            users = dict(file=self.users_file, header="Authorization", next=0)
            self.wrk_point("loop_sqlite_32", "checkout, a new user per request, SQLite store", 32, endpoint, users)
            self.results["loop_sqlite_32"].update(users_wrapped=users.get("wrapped", False), users_used=users["next"],
                                                  slots=self.store_count("checkout_slots"))
            # The reused open session: a first request creates it, every later one is answered from the store.
            headers = {"Authorization": f"Bearer {self.reuse_token}", "Content-Type": "application/json"}
            status, _, answer = http_request(self.lport, "POST", ROUTE, body=BODY.encode(), headers=headers, timeout=20)
            if status != 200:
                die(f"reuse: the first request got {status} {answer[:200]!r}")
            self.wrk_point("loop_reuse_32", "checkout, the reused open session (one user), SQLite store", 32,
                           endpoint, dict(file=self.reuse_file, header="Authorization", next=0))
            events = dict(file=self.events_file(self.event_count), header="Stripe-Signature", next=0)
            webhook = f"http://127.0.0.1:{self.lport}{WEBHOOK_ROUTE}"
            self.wrk_point("loop_webhook_32", "webhook, a new signed event per request (re-read), SQLite store", 32,
                           webhook, events)
            self.results["loop_webhook_32"].update(events_wrapped=events.get("wrapped", False),
                                                   events_used=events["next"],
                                                   processed=self.store_count("processed_events"))
            r = self.results
            say(f"  store: {r['loop_sqlite_32']['slots']} checkout slots after {r['loop_sqlite_32']['users_used']} "
                f"users sent (wrapped: {r['loop_sqlite_32']['users_wrapped']}); {r['loop_webhook_32']['processed']} "
                f"events applied after {events['next']} sent (wrapped: {events.get('wrapped', False)})")
        finally:
            self.stop_lighttpd()
            env["DATABASE_URL"] = "none"
            env.pop("STRIPE_WEBHOOK_SECRET", None)
        if self.pg is not None:
            self.loop_postgres(binary)

    def loop_postgres(self, binary):
        """L5: the checkout of loop_sqlite_32 (the same script, the same users from the first line on) with the
        PostgreSQL store: a new, empty database of the run's cluster, the binary's default pool per process
        (DATABASE_POOL_SIZE unset). The connections the processes hold are sampled during the point
        (pg_stat_activity). Then the state the CGI run reads from PostgreSQL: user_reuse's open session and
        user_bench's subscription (one signed webhook)."""
        env, procs, fast, endpoint, pg = os.environ, self.shipped_max_procs, self.fast_base, self.endpoint, self.pg
        self.pg_url = pg.create_database(PG_DATABASE)
        settings = {name: pg.psql("postgres", f"SHOW {name}") for name in
                    ("server_version", "fsync", "synchronous_commit", "full_page_writes", "max_connections",
                     "shared_buffers")}
        pool = max(1, min(self.workers, 10))  # LoopSettings.defaultPoolSize(workers:)
        say(f"PostgreSQL {settings['server_version']} (harness/postgres.py cluster on 127.0.0.1:{pg.port}, fsync "
            f"{settings['fsync']}, synchronous_commit {settings['synchronous_commit']}), database {PG_DATABASE}; "
            f"pool per process {pool} (default min(WORKERS, 10)) …")
        env["DATABASE_URL"] = self.pg_url
        env["STRIPE_WEBHOOK_SECRET"] = self.webhook_secret
        samples = []
        try:
            self.start_lighttpd(binary, procs, fast)
            after_start = self.pg_connections()
            stop = threading.Event()

            def sample():
                while not stop.wait(1.0):
                    count = self.pg_connections()
                    if count is not None:
                        samples.append(count)
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            users = dict(file=self.users_file, header="Authorization", next=0)
            try:
                self.wrk_point("loop_pg_32", "checkout, a new user per request, PostgreSQL store", 32, endpoint,
                               users)
            finally:
                stop.set()
                sampler.join(timeout=15)
            after_point = self.pg_connections()
            point = self.results["loop_pg_32"]
            point.update(users_wrapped=users.get("wrapped", False), users_used=users["next"],
                         slots=self.pg_count("checkout_slots"))
            headers = {"Authorization": f"Bearer {self.reuse_token}", "Content-Type": "application/json"}
            status, _, answer = http_request(self.lport, "POST", ROUTE, body=BODY.encode(), headers=headers, timeout=20)
            if status != 200:
                die(f"PostgreSQL reuse: the first request got {status} {answer[:200]!r}")
            body, signature = self.signed_event("evt_bench_pg_" + os.urandom(4).hex())
            status, _, answer = http_request(self.lport, "POST", WEBHOOK_ROUTE, body=body.encode(), timeout=20,
                                             headers={"Stripe-Signature": signature,
                                                      "Content-Type": "application/json"})
            if status != 200:
                die(f"PostgreSQL webhook: {status} {answer[:200]!r}")
            self.pg_info = dict(settings, pool=pool, procs=procs, after_start=after_start, after_point=after_point,
                                peak=max(samples) if samples else None, samples=len(samples), port=pg.port,
                                version=pg.version)
            say(f"  PostgreSQL: {point['slots']} checkout slots after {users['next']} users sent (wrapped: "
                f"{users.get('wrapped', False)}); connections (application_name {PG_APPLICATION}): "
                f"{after_start} after start, peak {self.pg_info['peak']} during the point ({len(samples)} samples), "
                f"{after_point} after it; expected {procs} processes x pool {pool} = {procs * pool}")
        finally:
            self.stop_lighttpd()
            env["DATABASE_URL"] = "none"
            env.pop("STRIPE_WEBHOOK_SECRET", None)

    def cgi(self, binary):
        """CGI cold start: the binary fed a CGI environment and the body on stdin, against the fast stand-in."""
        say()
        say(f"CGI cold start (hyperfine, {self.cgi_runs} runs each) …")
        env = dict(os.environ, STRIPE_API_BASE=self.fast_base, LOG_LEVEL="info", GATEWAY_INTERFACE="CGI/1.1",
                   SERVER_PROTOCOL="HTTP/1.1", REQUEST_METHOD="POST", REQUEST_URI=ROUTE, SCRIPT_NAME="/api",
                   PATH_INFO="/v1/billing/checkout", QUERY_STRING="", SERVER_NAME="127.0.0.1",
                   SERVER_PORT=str(self.lport), REMOTE_ADDR="127.0.0.1", CONTENT_TYPE="application/json",
                   CONTENT_LENGTH=str(len(BODY)), HTTP_AUTHORIZATION=f"Bearer {self.token}")
        with open(self.body_file, "rb") as body:
            one = subprocess.run([binary], stdin=body, capture_output=True, env=env)
        for name, data in (("cgi.out", one.stdout), ("cgi.err", one.stderr)):
            with open(os.path.join(RUN, name), "wb") as f:
                f.write(data)
        if b"checkout.stripe.com" not in one.stdout:
            say((one.stdout + one.stderr).decode(errors="replace"))
            die(f"CGI run failed (see above and {RUN}/hyperfine.out)")
        body = self.body_file
        # The billing loop's cold start: GET …/subscription answered from the SQLite store (user_bench, whose
        # subscription the webhook point stored), the same request stateless (a 404, no store opened), and a
        # checkout with the store whose open session is reused (no Stripe call).
        get = (f"env -u CONTENT_TYPE REQUEST_METHOD=GET CONTENT_LENGTH=0 REQUEST_URI={SUBSCRIPTION_ROUTE} "
               f"PATH_INFO={SUBSCRIPTION_ROUTE[len('/api'):]}")
        store = f"DATABASE_URL=sqlite:{self.database}"
        loop_commands = [
            ("store-subscription", f"{get} {store} {binary} </dev/null 2>/dev/null", b'"active":true'),
            ("none-subscription", f"{get} DATABASE_URL=none {binary} </dev/null 2>/dev/null", b"404"),
            ("store-checkout-reuse", f"env {store} HTTP_AUTHORIZATION='Bearer {self.reuse_token}' {binary} <{body} "
             "2>/dev/null", b"checkout.stripe.com"),
        ]
        if self.pg_url:
            # The same two requests with the PostgreSQL store (L5's database: user_bench's subscription, user_reuse's
            # open session); one connection per CGI process. The URL, with its password, comes from the environment.
            env["BENCH_PG_DATABASE_URL"] = self.pg_url
            pg_store = 'DATABASE_URL="$BENCH_PG_DATABASE_URL"'
            loop_commands += [
                ("pg-subscription", f"{get} {pg_store} {binary} </dev/null 2>/dev/null", b'"active":true'),
                ("pg-checkout-reuse", f"env {pg_store} HTTP_AUTHORIZATION='Bearer {self.reuse_token}' {binary} "
                 f"<{body} 2>/dev/null", b"checkout.stripe.com"),
            ]
        for name, command, expect in loop_commands:
            one = subprocess.run(["sh", "-c", command], capture_output=True, env=env)
            with open(os.path.join(RUN, f"cgi-{name}.out"), "wb") as f:
                f.write(one.stdout)
            if expect not in one.stdout:
                say(one.stdout.decode(errors="replace"))
                die(f"CGI {name} failed (no {expect!r}; {RUN}/cgi-{name}.out)")
        commands = [("billing-checkout", f"{binary} <{body} 2>/dev/null"), ("hello", f"{REF}/hello <{body}"),
                    ("hello-foundation", f"{REF}/hello-foundation <{body}"), ("noop-c", f"{REF}/noop <{body}"),
                    ("noop-c-libcurl", f"{REF}/noop-libcurl <{body}")] + [(n, c) for n, c, _ in loop_commands]
        argv = ["hyperfine", "--style", "basic", "--warmup", "3", "--runs", str(self.cgi_runs), "--export-json",
                os.path.join(RUN, "cgi.json")]
        for name, command in commands:
            argv += ["-n", name, command]
        status, text = output(argv, env=env)
        with open(os.path.join(RUN, "hyperfine.out"), "w") as f:
            f.write(text)
        if status != 0:
            die(f"CGI run failed (see above and {RUN}/hyperfine.out)")
        self.hyperfine_text = text
        with open(os.path.join(RUN, "cgi.json")) as f:
            medians = {r["command"]: r["median"] for r in json.load(f)["results"]}
        self.cgi_ms = {name: "%.2f" % (medians[name] * 1000) for name, _ in commands}
        ms = self.cgi_ms
        say(f"  billing-checkout (CGI, one request) median {ms['billing-checkout']} ms; hello {ms['hello']} ms; "
            f"hello with Foundation {ms['hello-foundation']} ms")
        say(f"  C program that starts and exits: {ms['noop-c']} ms; the same linked with libcurl: "
            f"{ms['noop-c-libcurl']} ms")
        say(f"  with the SQLite store: GET …/subscription {ms['store-subscription']} ms (stateless, a 404: "
            f"{ms['none-subscription']} ms); checkout reusing the open session {ms['store-checkout-reuse']} ms")
        if "pg-subscription" in ms:
            say(f"  with the PostgreSQL store: GET …/subscription {ms['pg-subscription']} ms; checkout reusing the "
                f"open session {ms['pg-checkout-reuse']} ms")

    def memory(self, binary):
        """One process (max-procs 1), LOG_LEVEL=info: peak RSS at c=256, then RSS growth over exact request counts."""
        say()
        say("Memory: max-procs 1 (overridden for a per-process measurement) …")
        os.environ["LOG_LEVEL"] = "info"
        self.start_lighttpd(binary, 1, self.fast_base)
        pid = self.server_pids()[0]
        self.wrk_point("mem_256", "billing-checkout, ONE process (max-procs 1) -> fast stand-in", 256, self.endpoint)
        point = self.results["mem_256"]
        peak_mb = "%.1f" % (peak_kib([pid]) / 1024)
        done = 1 + int(point["warmup"].get("requests", 0)) + int(point["requests"])  # 1: start_lighttpd's check
        bad = int(point["non2xx"]) + int(point["sock_errors"])
        first, second = self.mem_requests
        if done < first:
            complete, failed, non2xx = self.ab(first - done)
            done += complete
            bad += failed + non2xx
        at_first = done
        rss_first = rss_kib(pid) or 0
        complete, failed, non2xx = self.ab(second - done)
        done += complete
        bad += failed + non2xx
        rss_second = rss_kib(pid) or 0
        growth = "%.2f" % ((rss_second - rss_first) / 1024)
        if not processes.alive(pid):
            die(f"the FastCGI process {pid} died during the memory run")
        say(f"  peak RSS {peak_mb} MB at c=256; RSS {rss_first / 1024:.1f} MB after {at_first} requests, "
            f"{rss_second / 1024:.1f} MB after {done} (growth {growth} MB); errors {bad}")
        self.stop_lighttpd()
        self.mem = dict(peak_mb=peak_mb, at_first=at_first, done=done, bad=bad, rss_first_kb=rss_first,
                        rss_second_kb=rss_second, growth_mb=growth)

    def profile(self, binary):
        """perf when it has hardware counters, else callgrind (the design's tool). Here callgrind cannot run
        billing-checkout (valgrind 3.19 dies with an internal SIGSEGV on it, and cannot read the toolchain's DWARF 5),
        so without counters the profile is perf sampling on the software cpu-clock event. One FastCGI process
        (max-procs 1), profile_requests requests at c=8."""
        say()
        _, text = output(["perf", "stat", "-e", "instructions", "true"])
        if "<not supported>" in text:
            event = "cpu-clock"
            note = ("`perf stat -e instructions true` reports instructions `<not supported>` here (no hardware counters "
                    "in this VM), so callgrind was the prescribed tool; but valgrind 3.19 cannot run billing-checkout "
                    "(`valgrind --tool=none` already dies with an internal SIGSEGV; it also cannot read the Swift 6.3 "
                    "toolchain's DWARF 5). The profile is therefore `perf record -e cpu-clock` (software timer "
                    "sampling, no counters needed)")
        else:
            event = "cycles"
            note = "perf has hardware counters here: `perf record -e cycles`"
        n = self.profile_requests
        command = (f"lighttpd max-procs 1 (LOG_LEVEL=info, fast stand-in); `perf record -e {event} -F 2000 -g -p "
                   f"<billing-checkout pid>` while `ab -k -c 8 -n {n}` runs; "
                   f"`perf report --children/--no-children --sort dso,symbol`")
        say(f"Profile: perf record -e {event} on one FastCGI process, {n} requests at c=8 …")
        os.environ["LOG_LEVEL"] = "info"
        self.start_lighttpd(binary, 1, self.fast_base)
        pid = self.server_pids()[0]
        data = os.path.join(RUN, "perf.data")
        perf = processes.start(["perf", "record", "-q", "-e", event, "-F", "2000", "-g", "-p", str(pid), "-o", data],
                               os.path.join(RUN, "perf.out"))
        time.sleep(1)
        started = int(time.time())
        complete, failed, non2xx = self.ab(n, c=8)
        seconds = int(time.time()) - started
        try:
            os.kill(perf.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        perf.wait()
        processes.stop(perf)
        self.stop_lighttpd()
        tables = ""
        if os.path.exists(data) and os.path.getsize(data) > 0:
            status = f"{complete} requests ({failed} failed, {non2xx} non-2xx) in {seconds} s, sampled at 2 kHz"
            tables = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "perf_top.py"), data,
                                     "billing-checkout", "15"], capture_output=True, text=True, cwd=ROOT).stdout
            shutil.copy(data, os.path.join(REF, "perf.data.last"))
        else:
            status = f"no profile recorded (see {RUN}/perf.out)"
        say(f"  {status}")
        self.profile_info = dict(note=note, command=command, status=status, tables=tables.rstrip("\n"))


def loop_run(bench, binary):
    """--loop: the billing-loop points only (L1's stateless and SQLite checkout, the reused session, the webhook,
    L5's PostgreSQL checkout), their rows printed; docs/benchmarks.md is not written. BENCH_PERF=DIR records a
    perf profile (cpu-clock, call graphs) of every FastCGI process during each point into DIR."""
    with postgres.cluster() as bench.pg:
        bench.loop_points(binary)
    r = bench.results
    ratio = lambda a, b: float(r[a]["ok_rps"]) / float(r[b]["ok_rps"])
    say()
    say(f"L1 SQLite/stateless {ratio('loop_sqlite_32', 'loop_none_32'):.1%}; "
        f"L2 reuse/SQLite {ratio('loop_reuse_32', 'loop_sqlite_32'):.2f} x; "
        f"L5 PostgreSQL/SQLite {ratio('loop_pg_32', 'loop_sqlite_32'):.1%}")
    return 0


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    quick = loop_only = False
    for argument in args:
        if argument == "--quick":
            quick = True
        elif argument == "--loop":
            loop_only = True
        elif argument in ("-h", "--help"):
            print(__doc__.rstrip())
            return 0
        else:
            say(f"bench: unknown argument {argument}")
            return 64
    command_line = os.environ.pop("BENCH_COMMAND", None) or " ".join(["python3 -m harness.bench"] + args)
    os.chdir(ROOT)
    atexit.register(processes.cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    with open("/proc/loadavg") as f:
        load_at_start = " ".join(f.read().split()[:3])
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    bench = Bench(quick)
    # The commit (and whether the sources differ from it) as the build sees them, not at the end of the run.
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    commit = commit or "unknown"
    changes = subprocess.run(["git", "status", "--porcelain", "--", "Sources", "Package.swift", "conf"],
                             capture_output=True, text=True).stdout
    if changes.strip():
        commit += " (plus uncommitted changes in Sources/Package.swift/conf at build time)"
    try:
        binary = build()
        bench.prepare()
        say()
        say(f"Points: {bench.duration} s each after a {WARMUP} s warm-up; lighttpd max-procs {bench.shipped_max_procs} "
            f"(shipped) x WORKERS {bench.workers} unless noted.")
        say(benchdoc.ROW_HEADER)
        if loop_only:
            return loop_run(bench, binary)
        bench.load_points(binary)
        # One PostgreSQL cluster for the billing loop's PostgreSQL point and the CGI run, stopped and removed
        # right after them (on failure, SIGTERM or SIGINT too).
        try:
            pg_cluster = postgres.cluster()
            bench.pg = pg_cluster.__enter__()
        except (RuntimeError, OSError, KeyError) as error:
            die(f"no PostgreSQL cluster for the billing loop: {error}")
        try:
            bench.loop_points(binary)
            bench.cgi(binary)
        finally:
            pg_cluster.__exit__(None, None, None)
            bench.pg = None
        bench.memory(binary)
        bench.profile(binary)
    except BenchError as error:
        say(f"bench: {error}")
        return 1
    summary = benchdoc.summary(bench)
    say()
    say(f"Summary (one run, {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}):")
    say(summary)
    if os.environ.get("BENCH_NO_DOC", "0") == "1":
        say("(BENCH_NO_DOC=1: docs/benchmarks.md not written)")
        return 0
    text = benchdoc.document(bench, summary, command_line=command_line, started_at=started_at,
                             load_at_start=load_at_start, commit=commit)
    with open(os.path.join(ROOT, "docs", "benchmarks.md"), "w") as f:
        f.write(text)
    say("wrote docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The billing state in a real PostgreSQL server: two web hosts, PostgreSQL down at start, and restarted under load.

    python3 -m harness.pgchecks [--only NAME ...] [-v] [--break NAME]      (from the repository's root)

One private cluster (harness/postgres.py) for the run, a database per check, the Stripe stand-in, and lighttpd with
the shipped conf/lighttpd/billing-checkout.conf (as harness.webservers' billing loop runs it: the server user, a
settings file with `database.url`, the stand-in delivering its signed events over HTTP). Every binary process is a
separate PostgreSQL client.

1. two-hosts: two lighttpd + binary instances (two ports, two FastCGI process sets) on one database and one
   stand-in. A checkout through host A, the session completed at the stand-in, its webhook delivered to host B:
   the subscription read through A (and B) is active. Then ten concurrent checkouts for one new user, split across
   both hosts (Stripe at 300 ms): every answer the same URL, one Checkout Session created at the stand-in.
2. down-at-start: PostgreSQL stopped. The FastCGI binary (`--listen`) exits non-zero with one line on stderr that
   names the problem and never the password (the password in the URL, in DATABASE_PASSWORD, in
   DATABASE_PASSWORD_FILE); the binary as CGI answers 503 `Billing state unavailable`. PostgreSQL started again:
   the same CGI request answers 200 and the FastCGI binary serves.
3. restart-under-load: requests flowing through lighttpd (a subscription read, an open session's checkout, a new
   user's checkout); PostgreSQL stopped (fast shutdown) for OUTAGE_SECONDS: every answer is 200 or a complete JSON
   503 `{"detail":"Billing state unavailable"}` with `Retry-After`, each within ANSWER_LIMIT seconds; a Checkout
   completed meanwhile has its webhooks answered 5xx and not recorded. PostgreSQL started again on the same port:
   after RECOVERY_LIMIT seconds every answer is right, from the same binary PIDs; the webhooks delivered again are
   applied; no slot is left half-claimed (a new checkout for every user who got a 503 is a 200) and psql finds
   nothing half-written.

--break NAME breaks what a check guards, to see it go red: two-hosts (host B on another database), down-at-start
(PostgreSQL left running), restart-under-load (PostgreSQL back on another port, so the binary cannot recover).

One line per check (`ok NAME: numbers` / `FAIL NAME: why`), then `N passed, N failed`; exit status non-zero on
any failure. Standard library only; needs root (lighttpd runs the binary as www-data), lighttpd, Debian's
postgresql, and the built binaries (BILLING_CHECKOUT_BIN / STAND_IN_BINARY, else .build/debug/). Every process it
starts is stopped by PID at the end of its check and again at exit.
"""
import argparse
import http.client
import atexit
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

from . import processes
from .httpclient import http_request
from .mounts import BIN, StandIn, binary_env, shipped_max_procs, start_lighttpd, write_settings
from .postgres import cluster, without_password
from .processes import PROCESSES, SERVER_USER, descendants_running, free_port, give_to_server_user, \
    make_temp_dir, wait_for_port
from .tokens import token
from .webservers import CHECKOUT_URL, COMPLETED_EVENTS, PREFIX, LoopClient, control_answer, delivery_problems, \
    subscription_problems

CHECKS = ["two-hosts", "down-at-start", "restart-under-load"]
VERBOSE = False
UNAVAILABLE = b'{"detail":"Billing state unavailable"}'
CONCURRENT_CHECKOUTS = 10
CONCURRENT_LATENCY_MS = 300
START_LIMIT = 60.0        # s a FastCGI binary may take to give up on a PostgreSQL that is down
OUTAGE_SECONDS = 4.0      # how long PostgreSQL stays down under load
STORE_TIMEOUT = 5.0       # s the binary waits on one store operation (database.timeoutSeconds, default 5)
# s any request may take during the outage: a checkout in flight at the stop meets two store operations that time
# out (recording its new session, then letting go of its claim), the others one.
ANSWER_LIMIT = 2 * STORE_TIMEOUT + 5.0
# A checkout in flight at the stop leaves its claim on the user's slot (the binary cannot let go of it while the
# store is down); the next checkout for that user waits until the claim's lease lapses: 2 x the Stripe timeout
# (stripe.timeoutSeconds, default 20) + 5 s. RECHECKOUT_LIMIT: how long such a checkout may take.
CLAIM_LEASE = 2 * 20.0 + 5.0
RECHECKOUT_LIMIT = CLAIM_LEASE + 10.0
RECOVERY_LIMIT = 5.0      # s after PostgreSQL is ready again from which every answer must be right
LOAD_THREADS = 6


# ---------------------------------------------------------------- helpers


class Host:
    """lighttpd with the shipped config and the binary on a database: one web host."""

    def __init__(self, name, workdir, stand_in, database_url, secret, extra_env=None, settings_extra=None):
        self.name = name
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir)
        # lighttpd creates the binary's socket here after it has dropped to the server user.
        give_to_server_user(self.dir, 0o755)
        settings = write_settings(self.dir, stand_in, database_url=database_url, webhook_secret=secret)
        if settings_extra:  # more of the settings file's "database" object
            with open(settings) as f:
                values = json.load(f)
            values["database"].update(settings_extra)
            with open(settings, "w") as f:
                json.dump(values, f)
        self.error_log = os.path.join(self.dir, "error.log")
        self.out = os.path.join(self.dir, "server.out")
        user = [f'server.username = "{SERVER_USER}"', f'server.groupname = "{SERVER_USER}"'] if SERVER_USER else []
        last = None
        for _ in range(3):  # a port taken between choosing it and lighttpd's bind: another one
            self.port = free_port()
            try:
                self.proc = start_lighttpd(self.dir, BIN, self.port, binary_env(settings, **(extra_env or {})),
                                           self.out, error_log=self.error_log,
                                           extra=user + ["server.max-connections = 1024"])
                break
            except RuntimeError as error:
                last = error
        else:
            raise RuntimeError(f"{name}: lighttpd did not start: {last}; {tail(self.error_log)}")
        self.client = None

    @property
    def webhook(self):
        return f"http://127.0.0.1:{self.port}{PREFIX}/webhook"

    def pids(self):
        return descendants_running(self.proc.pid, BIN)

    def child_exits(self):
        text = read(self.error_log)
        return re.findall(r"child (?:exited|signalled): -?\d+", text)

    def logs(self):
        return [self.error_log, self.out]


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def tail(path, lines=20):
    return " | ".join(read(path).splitlines()[-lines:])


def print_logs(paths):
    for path in paths:
        if os.path.exists(path):
            print(f"----- {path} (last 60 lines)")
            print("\n".join(read(path).splitlines()[-60:]))


def session_id(url):
    return url.rsplit("/", 1)[1]


def unavailable_problem(status, headers, raw):
    """None when the answer is the store's complete JSON 503, else what is wrong with it."""
    if status != 503:
        return f"status {status}"
    if raw != UNAVAILABLE:
        return f"body {raw[:200]!r}"
    if not headers.get("content-type", "").startswith("application/json"):
        return f"content-type {headers.get('content-type')!r}"
    if not headers.get("retry-after", "").strip().isdigit():
        return f"retry-after {headers.get('retry-after')!r}"
    if "content-length" in headers and int(headers["content-length"]) != len(raw):
        return f"content-length {headers['content-length']} for {len(raw)} bytes"
    return None


def cgi_request(settings, extra_env, method, path, user, body=b""):
    """The binary as a CGI script, as a web server runs it: meta-variables in the environment, the body on stdin.

    Returns (exit code, status, {lower-name: value}, body, stderr)."""
    env = binary_env(settings, GATEWAY_INTERFACE="CGI/1.1", SERVER_PROTOCOL="HTTP/1.1", REQUEST_METHOD=method,
                     REQUEST_URI=path, SCRIPT_NAME=path, QUERY_STRING="", REMOTE_ADDR="127.0.0.1",
                     SERVER_NAME="localhost", SERVER_PORT="80", CONTENT_LENGTH=str(len(body)),
                     HTTP_AUTHORIZATION=f"Bearer {token(user)}", **extra_env)
    if body:
        env["CONTENT_TYPE"] = "application/json"
    result = subprocess.run([BIN], input=body, capture_output=True, env=env, timeout=60)
    head, _, payload = result.stdout.partition(b"\r\n\r\n")
    headers = {}
    status = None
    for line in head.split(b"\r\n"):
        name, _, value = line.decode(errors="replace").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "status" in headers:
        status = int(headers["status"].split()[0])
    return result.returncode, status, headers, payload, result.stderr.decode(errors="replace")


def run_fastcgi_start(settings, extra_env, workdir, limit=START_LIMIT):
    """Starts the FastCGI binary on --listen and waits: (exit code or None if it listens/runs, seconds, stdout,
    stderr)."""
    port = free_port()
    out_path, err_path = os.path.join(workdir, "fcgi.out"), os.path.join(workdir, "fcgi.err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen([BIN, "--listen", f"127.0.0.1:{port}"], stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, env=binary_env(settings, **extra_env), cwd=workdir,
                                start_new_session=True)
    PROCESSES.append(proc)
    started = time.monotonic()
    code = None
    try:
        while time.monotonic() - started < limit:
            if proc.poll() is not None:
                code = proc.returncode
                break
            try:
                wait_for_port(port, proc, timeout=0.2)
                break  # it serves
            except RuntimeError:
                pass
        elapsed = time.monotonic() - started
    finally:
        processes.stop(proc)
    return code, elapsed, read(out_path), read(err_path)


def slow_control(stand_in, path, body, problems, what, timeout=120):
    """control_answer with a longer wait: during an outage each delivery waits for the binary's 503."""
    conn = http.client.HTTPConnection("127.0.0.1", stand_in.port, timeout=timeout)
    try:
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        answer = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    if not isinstance(answer, dict) or "deliveries" not in answer:
        problems.append(f"{what}: the stand-in answered {json.dumps(answer)[:300]}")
        return None
    return answer


def secret():
    return "whsec_" + os.urandom(24).hex()


# ---------------------------------------------------------------- 1. two hosts


def check_two_hosts(pg, report, broken):
    workdir = make_temp_dir("pg-two-hosts")
    stand_in = StandIn(workdir)
    url = pg.create_database("two_hosts")
    other = pg.create_database("two_hosts_other") if broken else url
    hook_secret = secret()
    hosts = []
    try:
        a = Host("host-a", workdir, stand_in, url, hook_secret)
        b = Host("host-b", workdir, stand_in, other, hook_secret)
        hosts = [a, b]
        stand_in.control("POST", "/_standin/webhook", {"url": b.webhook, "secret": hook_secret})
        client_a, client_b = LoopClient(a.port, stand_in), LoopClient(b.port, stand_in)

        # A webhook delivered to B, the subscription read from A.
        problems = []
        user = "user_two_hosts"
        first = client_a.checkout_url(user, problems)
        answer = None
        if first is not None:
            answer = control_answer(stand_in, f"/_standin/checkout/sessions/{session_id(first)}/complete", {},
                                    problems, "complete")
        if answer is not None:
            types = [event["type"] for event in answer["events"]]
            if types != COMPLETED_EVENTS:
                problems.append(f"events {types}, want {COMPLETED_EVENTS}")
            problems += delivery_problems(answer, 200, "complete (delivered to host B)")
            problems += [f"host A: {p}" for p in subscription_problems(client_a, user, "active", True)]
            problems += [f"host B: {p}" for p in subscription_problems(client_b, user, "active", True)]
            rows = pg.psql(url, f"SELECT status FROM subscriptions WHERE user_id = '{user}'")
            if rows != "active":
                problems.append(f"psql: subscriptions of {user} in the shared database: {rows!r}, want 'active'")
        pids = {host.name: host.pids() for host in hosts}
        backends = pg.psql("postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = 'two_hosts' "
                                       "AND application_name = 'billing-checkout'")
        report(not problems, "two-hosts-webhook",
               f"checkout through A, {len(answer['deliveries']) if answer else 0} events delivered to B (all 200), "
               f"active through A and B; FastCGI processes A {pids['host-a']}, B {pids['host-b']}, "
               f"{backends} PostgreSQL connections of theirs to the database",
               "; ".join(problems), logs=[p for h in hosts for p in h.logs()] + [stand_in.log])

        # Ten concurrent checkouts for one new user, split across both hosts.
        user = "user_two_hosts_concurrent"
        results = [None] * CONCURRENT_CHECKOUTS
        barrier = threading.Barrier(CONCURRENT_CHECKOUTS)

        def one(i):
            client = (client_a, client_b)[i % 2]
            try:
                barrier.wait(timeout=10)
                results[i] = client.checkout(user)
            except Exception as error:
                results[i] = (None, None, f"{type(error).__name__}: {error}".encode())

        stand_in.control("POST", "/_standin/latency", {"ms": CONCURRENT_LATENCY_MS})
        try:
            threads = [threading.Thread(target=one, args=(i,)) for i in range(CONCURRENT_CHECKOUTS)]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
        finally:
            stand_in.control("POST", "/_standin/latency", {"ms": 0})
        problems = []
        statuses = [status for status, _, _ in results]
        urls = {parsed.get("url") for status, parsed, _ in results if status == 200 and isinstance(parsed, dict)}
        if set(statuses) != {200}:
            problems.append(f"statuses {statuses}; first error: "
                            f"{next(raw[:200] for status, _, raw in results if status != 200)!r}")
        if len(urls) != 1 or not all(isinstance(u, str) and u.startswith(CHECKOUT_URL) for u in urls):
            problems.append(f"{len(urls)} distinct session urls, want 1: {sorted(map(str, urls))[:3]}")
        creates = len(client_a.stripe_calls("POST", "/v1/checkout/sessions", user))
        if creates != 1:
            problems.append(f"{creates} POST /v1/checkout/sessions at the stand-in, want 1")
        report(not problems, "two-hosts-concurrent",
               f"{CONCURRENT_CHECKOUTS} checkouts for one user, 5 through each host, at {CONCURRENT_LATENCY_MS} ms "
               f"Stripe latency: all 200, one URL, {creates} session created; {elapsed:.2f} s",
               "; ".join(problems), logs=[p for h in hosts for p in h.logs()] + [stand_in.log])
    finally:
        processes.stop_all()
        processes.remove_temp_dir(workdir)


# ---------------------------------------------------------------- 2. down at start


def check_down_at_start(pg, report, broken):
    workdir = make_temp_dir("pg-down")
    stand_in = StandIn(workdir)
    url = pg.create_database("down_at_start")
    bare, password = without_password(url)
    password_file = os.path.join(workdir, "database-password")
    with open(password_file, "w") as f:
        f.write(password + "\n")
    os.chmod(password_file, 0o600)
    settings = write_settings(workdir, stand_in, database_url=url, webhook_secret=secret())
    variants = [("password in DATABASE_URL", {}),
                ("DATABASE_PASSWORD", {"DATABASE_URL": bare, "DATABASE_PASSWORD": password}),
                ("DATABASE_PASSWORD_FILE", {"DATABASE_URL": bare, "DATABASE_PASSWORD_FILE": password_file})]
    try:
        if not broken:
            pg.stop()
        problems, numbers = [], []
        for what, extra in variants:
            code, elapsed, out, err = run_fastcgi_start(settings, extra, workdir)
            lines = [line for line in err.splitlines() if line.strip()]
            numbers.append(f"{what}: exit {code} after {elapsed:.2f} s")
            if code is None:
                problems.append(f"{what}: the FastCGI binary still served after {elapsed:.1f} s with PostgreSQL down")
            elif code == 0:
                problems.append(f"{what}: exit 0")
            if len(lines) != 1:
                problems.append(f"{what}: {len(lines)} stderr lines, want 1: {lines[:4]}")
            elif not re.search(r"postgres|database|billing state", lines[0], re.I):
                problems.append(f"{what}: the line does not name the problem: {lines[0]!r}")
            if password in err or password in out:
                problems.append(f"{what}: the password is in the binary's output")
            if lines and code not in (None, 0):
                numbers[-1] += f" ({lines[0][:160]!r})"
        report(not problems, "down-at-start-fastcgi", "; ".join(numbers), "; ".join(problems),
               logs=[os.path.join(workdir, "fcgi.err")])

        problems, numbers = [], []
        for method, path, body in (("GET", f"{PREFIX}/subscription", b""), ("POST", f"{PREFIX}/checkout", b"{}")):
            started = time.monotonic()
            code, status, headers, raw, err = cgi_request(settings, {}, method, path, "user_down", body)
            numbers.append(f"{method} {path.rsplit('/', 1)[1]}: {status} in {time.monotonic() - started:.2f} s")
            wrong = unavailable_problem(status, headers, raw)
            if wrong:
                problems.append(f"CGI {method} {path}: {wrong} ({raw[:120]!r}; exit {code}; stderr {err[-300:]!r})")
            if code != 0:
                problems.append(f"CGI {method} {path}: exit {code}")
            if password in err or password.encode() in raw:
                problems.append(f"CGI {method} {path}: the password is in the binary's output")
        report(not problems, "down-at-start-cgi", "; ".join(numbers), "; ".join(problems))

        # The contrast: with PostgreSQL up, the same requests are served.
        pg.start()
        problems = []
        code, status, headers, raw, err = cgi_request(settings, {}, "GET", f"{PREFIX}/subscription", "user_down")
        if status != 200 or json.loads(raw or b"{}").get("status") != "none":
            problems.append(f"CGI GET subscription with PostgreSQL up: {status} {raw[:200]!r} ({err[-300:]!r})")
        code, elapsed, _, err = run_fastcgi_start(settings, {}, workdir, limit=20)
        if code is not None:
            problems.append(f"FastCGI with PostgreSQL up: exit {code} after {elapsed:.1f} s: {err[-300:]!r}")
        report(not problems, "down-at-start-contrast",
               f"PostgreSQL up again: CGI 200, FastCGI serving after {elapsed:.2f} s", "; ".join(problems))
    finally:
        if not pg.running():
            pg.start()
        processes.stop_all()
        processes.remove_temp_dir(workdir)


# ---------------------------------------------------------------- 3. restart under load


class Answer:
    __slots__ = ("kind", "user", "began", "ended", "status", "headers", "raw", "verdict", "why")


class Traffic:
    """LOAD_THREADS clients in a loop, each request one of three kinds with its one right answer."""

    def __init__(self, port, active_user, open_user, open_url):
        self.port = port
        self.active_user, self.open_user, self.open_url = active_user, open_user, open_url
        self.answers = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.counter = 0
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(LOAD_THREADS)]

    def start(self):
        for thread in self.threads:
            thread.start()
        return self

    def join(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def next_new_user(self):
        with self.lock:
            self.counter += 1
            return f"user_restart_new_{self.counter}"

    def run(self, index):
        kinds = ("subscription", "checkout-open", "checkout-new")
        n = index
        while not self.stop.is_set():
            kind = kinds[n % 3]
            n += 1
            answer = Answer()
            answer.kind = kind
            if kind == "subscription":
                answer.user, method, path, body = self.active_user, "GET", "/subscription", None
            elif kind == "checkout-open":
                answer.user, method, path, body = self.open_user, "POST", "/checkout", b"{}"
            else:
                answer.user, method, path, body = self.next_new_user(), "POST", "/checkout", b"{}"
            headers = {"Authorization": f"Bearer {token(answer.user)}"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            answer.began = time.monotonic()
            try:
                answer.status, answer.headers, answer.raw = http_request(self.port, method, PREFIX + path, body=body,
                                                                         headers=headers, timeout=60)
            except Exception as error:
                answer.status, answer.headers, answer.raw = None, {}, f"{type(error).__name__}: {error}".encode()
            answer.ended = time.monotonic()
            self.judge(answer)
            with self.lock:
                self.answers.append(answer)
            if answer.verdict == "unavailable":
                time.sleep(0.02)  # a client that got 503 does not retry in a tight loop

    def judge(self, answer):
        answer.why = unavailable_problem(answer.status, answer.headers, answer.raw)
        if answer.why is None:
            answer.verdict = "unavailable"
            return
        try:
            parsed = json.loads(answer.raw)
        except ValueError:
            parsed = None
        if answer.status == 200 and isinstance(parsed, dict):
            if answer.kind == "subscription" and parsed.get("status") == "active" and parsed.get("active") is True:
                answer.verdict = "ok"
                return
            if answer.kind == "checkout-open" and parsed.get("url") == self.open_url:
                answer.verdict = "ok"
                return
            if answer.kind == "checkout-new" and str(parsed.get("url")).startswith(CHECKOUT_URL):
                answer.verdict = "ok"
                return
        answer.verdict = "wrong"
        answer.why = f"{answer.kind}: {answer.status} {answer.raw[:200]!r}"


def check_restart_under_load(pg, report, broken):
    workdir = make_temp_dir("pg-restart")
    stand_in = StandIn(workdir)
    url = pg.create_database("restart_under_load")
    hook_secret = secret()
    host = None
    try:
        host = Host("host", workdir, stand_in, url, hook_secret)
        logs = host.logs() + [stand_in.log, pg.log_path]
        stand_in.control("POST", "/_standin/webhook", {"url": host.webhook, "secret": hook_secret})
        client = LoopClient(host.port, stand_in)
        problems = []
        # The state the load reads: a paid user, a user with an open session, and one whose Checkout is paid
        # during the outage.
        active_user, open_user, hook_user = "user_restart_active", "user_restart_open", "user_restart_hook"
        paid = client.checkout_url(active_user, problems)
        if paid is not None:
            answer = control_answer(stand_in, f"/_standin/checkout/sessions/{session_id(paid)}/complete", {},
                                    problems, "complete")
            if answer is not None:
                problems += delivery_problems(answer, 200, "complete")
        open_url = client.checkout_url(open_user, problems)
        hook_url = client.checkout_url(hook_user, problems)
        problems += subscription_problems(client, active_user, "active", True)
        if problems:
            report(False, "restart-under-load", "", "setup: " + "; ".join(problems), logs=logs)
            return

        traffic = Traffic(host.port, active_user, open_user, open_url).start()
        # lighttpd spawns its second process under load: wait for every process (the same ones must answer after
        # the restart), then a second of steady load before the stop.
        spawned_by = time.monotonic() + 20.0
        while len(host.pids()) < shipped_max_procs() and time.monotonic() < spawned_by:
            time.sleep(0.1)
        time.sleep(1.0)
        pids_before = host.pids()
        exits_before = host.child_exits()
        stopped_at = time.monotonic()
        stop_seconds = pg.stop()
        time.sleep(0.5)
        # A Checkout paid during the outage: its webhooks must get 5xx and not be recorded.
        outage_problems = []
        hook_began = time.monotonic()
        hook_answer = slow_control(stand_in, f"/_standin/checkout/sessions/{session_id(hook_url)}/complete", {},
                                   outage_problems, "complete during the outage")
        hook_seconds = time.monotonic() - hook_began
        hook_statuses = [d["status"] for d in hook_answer["deliveries"]] if hook_answer else []
        if hook_answer is not None and not all(isinstance(s, int) and 500 <= s < 600 for s in hook_statuses):
            outage_problems.append(f"webhooks during the outage answered {hook_statuses}, want 5xx each")
        remaining = OUTAGE_SECONDS - (time.monotonic() - stopped_at)
        if remaining > 0:
            time.sleep(remaining)
        restart_began = time.monotonic()
        if broken:
            pg.port = None  # another port: the binary's settings point at a server that is gone
        pg.start()
        ready_at = time.monotonic()
        # Load until enough requests have been answered from RECOVERY_LIMIT after the restart on (at most 30 s more).
        deadline = ready_at + RECOVERY_LIMIT + 30.0
        time.sleep(RECOVERY_LIMIT + 3.0)
        while time.monotonic() < deadline:
            with traffic.lock:
                late = sum(1 for a in traffic.answers if a.began >= ready_at + RECOVERY_LIMIT)
            if late >= 60:
                break
            time.sleep(0.2)
        traffic.join()
        answers = sorted(traffic.answers, key=lambda a: a.began)

        # Phases: before the stop every answer right; during the outage right or the JSON 503 (requests in flight
        # at the stop may still get theirs), never anything else, each within ANSWER_LIMIT; from RECOVERY_LIMIT
        # after the restart every answer right again.
        before = [a for a in answers if a.ended < stopped_at]
        outage = [a for a in answers if a.ended >= stopped_at and a.began < ready_at + RECOVERY_LIMIT]
        after = [a for a in answers if a.began >= ready_at + RECOVERY_LIMIT]
        during = [a for a in answers if a.began >= stopped_at and a.ended <= restart_began]
        counts = {}
        for a in outage:
            counts[(a.verdict, a.status)] = counts.get((a.verdict, a.status), 0) + 1
        longest = max((a.ended - a.began for a in outage), default=0.0)
        slowest_by_kind = {}
        for a in outage:
            slowest_by_kind[a.kind] = max(slowest_by_kind.get(a.kind, 0.0), a.ended - a.began)
        def described(a):
            return a.why or f"{a.kind}: {a.status} {a.raw[:100]!r}"

        wrong_before = [described(a) for a in before if a.verdict != "ok"]
        wrong_outage = [a.why for a in outage if a.verdict == "wrong"]
        wrong_after = [described(a) for a in after if a.verdict != "ok"]
        unavailable_during = sum(1 for a in during if a.verdict == "unavailable")
        last_bad = max((a.ended for a in answers if a.verdict != "ok" and a.began >= stopped_at), default=None)
        first_ok_after = min((a.ended for a in answers if a.verdict == "ok" and a.began >= ready_at), default=None)
        problems = []
        if wrong_before:
            problems.append(f"{len(wrong_before)} wrong answers before the stop: {wrong_before[:3]}")
        if wrong_outage:
            problems.append(f"{len(wrong_outage)} answers during the outage neither right nor the JSON 503: "
                            f"{wrong_outage[:3]}")
        if not unavailable_during:
            problems.append(f"no request started and answered during the outage got the JSON 503 "
                            f"({len(during)} requests)")
        if longest > ANSWER_LIMIT:
            problems.append(f"an answer during the outage took {longest:.1f} s (> {ANSWER_LIMIT:.0f} s)")
        report(not problems, "restart-under-load-outage",
               f"{len(outage)} requests across the outage ({OUTAGE_SECONDS:.0f} s, PostgreSQL stopped in "
               f"{stop_seconds:.2f} s): " + ", ".join(f"{v} {s}: {n}" for (v, s), n in sorted(counts.items(),
                                                                                          key=str)) +
               f"; {unavailable_during} JSON 503s to requests sent and answered while it was down; slowest "
               + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(slowest_by_kind.items()))
               + f" (limit {ANSWER_LIMIT:.0f} s); {len(before)} right answers before it",
               "; ".join(problems), logs=logs)

        problems = outage_problems[:]
        report(not problems, "restart-under-load-webhook-5xx",
               f"{len(hook_statuses)} webhooks during the outage answered {sorted(set(hook_statuses))} "
               f"(all four in {hook_seconds:.1f} s)",
               "; ".join(problems), logs=logs)

        problems = []
        if wrong_after:
            problems.append(f"{len(wrong_after)} of {len(after)} answers from {RECOVERY_LIMIT:.0f} s after the "
                            f"restart not right: {wrong_after[:3]}")
        if not after:
            problems.append("no requests after the restart")
        pids_after = host.pids()
        if not set(pids_before) <= set(pids_after) or not pids_before:
            problems.append(f"billing-checkout PIDs {pids_before} before the outage, {pids_after} after")
        if host.child_exits() != exits_before:
            problems.append(f"lighttpd logged child exits: {host.child_exits()}")
        recovery = (last_bad - ready_at) if last_bad is not None and last_bad > ready_at else 0.0
        report(not problems, "restart-under-load-recovery",
               f"PostgreSQL ready {ready_at - restart_began:.2f} s after its start; last wrong or 503 answer "
               f"{recovery:.2f} s after that, first right one {((first_ok_after or ready_at) - ready_at):.2f} s; "
               f"{len(after)} answers after {RECOVERY_LIMIT:.0f} s all right; same PIDs {pids_before}",
               "; ".join(problems), logs=logs)
        if broken:
            return

        # The webhooks delivered during the outage were not recorded; delivered again, they are applied.
        problems = []
        event_ids = [event["id"] for event in hook_answer["events"]] if hook_answer else []
        quoted = ",".join(f"'{event}'" for event in event_ids)
        recorded = pg.psql(url, f"SELECT count(*) FROM processed_events WHERE id IN ({quoted})") if event_ids else "0"
        if recorded != "0":
            problems.append(f"{recorded} of the events delivered during the outage recorded as processed")
        problems += [f"before redelivery: {p}" for p in subscription_problems(client, hook_user, "none", False)]
        statuses = []
        for event in event_ids:
            again = control_answer(stand_in, f"/_standin/events/{event}/deliver", {}, problems, "deliver again")
            if again is not None:
                statuses += [d["status"] for d in again["deliveries"]]
        if statuses != [200] * len(event_ids):
            problems.append(f"redeliveries answered {statuses}, want 200 each")
        problems += [f"after redelivery: {p}" for p in subscription_problems(client, hook_user, "active", True)]
        recorded = pg.psql(url, f"SELECT count(*) FROM processed_events WHERE id IN ({quoted})") if event_ids else "0"
        if recorded != str(len(event_ids)):
            problems.append(f"{recorded} of {len(event_ids)} redelivered events recorded")
        report(not problems, "restart-under-load-redelivery",
               f"{len(event_ids)} events not recorded during the outage; delivered again: {statuses}, "
               f"{hook_user} active", "; ".join(problems), logs=logs)

        # Nothing half-written: every user whose checkout got a 503 (or was in flight at the stop) can check out.
        problems = []
        creating = pg.psql(url, "SELECT user_id || ' ' || coalesce(lease_until::text, '-') FROM checkout_slots "
                                "WHERE state = 'creating' ORDER BY user_id")
        stuck = [line for line in creating.splitlines() if line]
        users = sorted({a.user for a in answers if a.kind == "checkout-new" and a.verdict != "ok"})
        slowest = 0.0
        for user in users:
            began = time.monotonic()
            try:
                status, _, raw = http_request(host.port, "POST", PREFIX + "/checkout", body=b"{}",
                                              headers={"Authorization": f"Bearer {token(user)}",
                                                       "Content-Type": "application/json"},
                                              timeout=RECHECKOUT_LIMIT + 15)
                parsed = json.loads(raw) if raw.startswith(b"{") else {}
            except Exception as error:
                status, parsed, raw = None, {}, f"{type(error).__name__}: {error}".encode()
            seconds = time.monotonic() - began
            slowest = max(slowest, seconds)
            if status != 200 or not str(parsed.get("url")).startswith(CHECKOUT_URL):
                problems.append(f"checkout for {user} after the restart: {status} {raw[:200]!r} after {seconds:.1f} s")
            elif seconds > RECHECKOUT_LIMIT:
                problems.append(f"checkout for {user} after the restart took {seconds:.1f} s (> {RECHECKOUT_LIMIT:.0f} s)")
        half = pg.psql(url, "SELECT count(*) FROM checkout_slots WHERE (state = 'open' AND (session_id IS NULL OR "
                            "url IS NULL OR expires_at IS NULL)) OR (state = 'creating' AND claim IS NULL)")
        if half != "0":
            problems.append(f"{half} checkout slots half-written")
        left = pg.psql(url, "SELECT count(*) FROM checkout_slots WHERE state = 'creating'")
        if left != "0":
            problems.append(f"{left} checkout slots still 'creating' after every user checked out again")
        orphans = pg.psql(url, "SELECT count(*) FROM subscriptions s WHERE NOT EXISTS (SELECT 1 FROM customers c "
                               "WHERE c.user_id = s.user_id)")
        if orphans != "0":
            problems.append(f"{orphans} subscriptions of users without a customer")
        open_row = pg.psql(url, f"SELECT state || ' ' || url FROM checkout_slots WHERE user_id = '{open_user}'")
        if open_row != f"open {open_url}":
            problems.append(f"{open_user}'s slot: {open_row!r}, want 'open {open_url}'")
        report(not problems, "restart-under-load-consistent",
               f"{len(users)} users whose checkout got a 503 checked out again, all 200 (slowest {slowest:.2f} s: "
               f"a claim left by a checkout in flight at the stop lapses first, after at most {CLAIM_LEASE:.0f} s); "
               f"claims left by the outage: "
               f"{len(stuck)}; none half-written", "; ".join(problems), logs=logs)
    finally:
        processes.stop_all()
        processes.remove_temp_dir(workdir)


# ---------------------------------------------------------------- main


def main():
    global VERBOSE
    parser = argparse.ArgumentParser(description="billing-checkout with its state in PostgreSQL")
    parser.add_argument("--only", choices=CHECKS, action="append", help="run only this check (repeatable)")
    parser.add_argument("--break", dest="broken", choices=CHECKS, action="append", default=[],
                        help="break what this check guards, to see it fail")
    parser.add_argument("-v", "--verbose", action="store_true", help="timings, and logs on failure")
    args = parser.parse_args()
    VERBOSE = args.verbose
    atexit.register(processes.cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))

    passed = failed = 0

    def report(ok, name, numbers, why="", logs=()):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"ok {name}: {numbers}", flush=True)
        else:
            failed += 1
            print(f"FAIL {name}: {why}", flush=True)
            if VERBOSE:
                print_logs(logs)

    for path in (BIN,):
        if not os.access(path, os.X_OK):
            print(f"FAIL setup: no binary at {path} (build first, or set BILLING_CHECKOUT_BIN)")
            print("0 passed, 1 failed")
            return 1
    started = time.monotonic()
    try:
        with cluster(verbose=VERBOSE) as pg:
            report(True, "postgres", f"PostgreSQL {pg.version} on 127.0.0.1:{pg.port}, ready in "
                                     f"{time.monotonic() - started:.2f} s (initdb {pg.timings['initdb']:.2f} s, "
                                     f"start {pg.timings['start']:.2f} s)")
            for name in args.only or CHECKS:
                began = time.monotonic()
                try:
                    if name == "two-hosts":
                        check_two_hosts(pg, report, name in args.broken)
                    elif name == "down-at-start":
                        check_down_at_start(pg, report, name in args.broken)
                    elif name == "restart-under-load":
                        check_restart_under_load(pg, report, name in args.broken)
                except Exception as error:
                    report(False, name, "", f"{type(error).__name__}: {error}", logs=[pg.log_path])
                finally:
                    processes.stop_all()
                    if not pg.running():
                        pg.start()
                if VERBOSE:
                    print(f"# {name} took {time.monotonic() - began:.1f} s", flush=True)
    except Exception as error:
        report(False, "postgres", "", f"{type(error).__name__}: {error}")
    processes.cleanup()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

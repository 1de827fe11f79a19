#!/usr/bin/env python3
"""Runs billing-checkout behind real web servers with the shipped configs and checks the HTTP contract.

Mounts: lighttpd (mod_fastcgi bin-path), Apache mod_fcgid, Apache mod_proxy_fcgi (binary on --listen, as the
systemd service runs it), Apache mod_cgi(d), nginx + spawn-fcgi. Every mount must give the same status, JSON body
and contract headers for every case, equal to the expected ones. Then 200 concurrent requests against a slow
Stripe stand-in through lighttpd and mod_fcgid. Through lighttpd, last, the whole billing loop (billing_loop()):
a second lighttpd with the same shipped config, the state in a SQLite file, and the stand-in delivering its signed
webhook events to it over HTTP, as `stripe listen --forward-to` does.

    python3 -m harness.webservers [--mount NAME] [-v]      (from the repository's root)

Standard library only. Needs lighttpd, apache2 (+ libapache2-mod-fcgid), nginx, spawn-fcgi; root for Apache's
User www-data. Binaries: BILLING_CHECKOUT_BIN / STAND_IN_BINARY, else .build/debug/.
"""
import argparse
import atexit
import json
import os
import select
import shutil
import signal
import socket
import sys
import threading
import time

from . import FRONTEND, ROUTE
from .httpclient import http_request
from .mounts import BIN, MOUNTS, binary_env, start_lighttpd, state_dir, write_settings
from .processes import PROCESSES, SERVER_USER, cleanup, free_port, give_to_server_user, stop
from .tokens import token

URL_PLACEHOLDER = "<session-url>"
CONTRACT_HEADERS = ("content-type", "cache-control", "www-authenticate", "allow", "retry-after")
VERBOSE = False

# The concurrency check (concurrency()): mount -> (time limit in s, processes the web server must start for the
# burst). mod_fcgid retries once a second, so 60 s would mean one request at a time there; the shipped config
# allows 32 processes, and the burst must make mod_fcgid start at least half of them.
BURST = {"lighttpd": (20, 0), "apache-fcgid": (40, 16)}
CONCURRENCY_MOUNTS = tuple(BURST)
# What a chunked body far over the web server's 1 MiB cap gets (huge_body): 413, except that mod_fcgid stops it
# at FcgidMaxRequestLen with a 500 of its own; it has no way to send a 413.
HUGE_CHUNKED_STATUS = {"apache-fcgid": 500}


# ---------------------------------------------------------------- HTTP cases


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
    # httpoxy: the client's Proxy header points at PROXY_TRAP; the call must still go to the stand-in, directly
    # (proxy_header_problems() checks both ends).
    ("proxy-header", lambda: dict(method="POST", path=ROUTE, body=b"{}",
                                  headers={**JSON, "Authorization": f"Bearer {token(PROXY_USER)}",
                                           "Proxy": PROXY_TRAP.url}),
     200, {"url": URL_PLACEHOLDER}, JSON_HEADERS),
]


class ProxyTrap:
    """A loopback listener standing in for a proxy nothing may use: it records the first line of every connection
    (`POST http://...` or `CONNECT ...` from a client that took it for its proxy) and closes it."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.lines = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(1)
                try:
                    data = conn.recv(512)
                except OSError:
                    data = b""
            with self.lock:
                self.lines.append(data.split(b"\r\n", 1)[0].decode(errors="replace") or "(connected, sent nothing)")

    def seen(self):
        with self.lock:
            return list(self.lines)


PROXY_TRAP = None  # a ProxyTrap, started by main()
PROXY_USER = "user_proxy_header"


def proxy_header_problems(mount, trap_before):
    """After the proxy-header case: the trap saw no connection since trap_before of them, and the stand-in recorded
    that request's call.

    A 200 alone would not say the call went direct: a proxy that forwarded it would also get the session."""
    problems = []
    seen = PROXY_TRAP.seen()[trap_before:]
    if seen:
        problems.append(f"the proxy trap was connected to: {seen[:3]}")
    calls = [request for request in mount.stand_in.control("GET", "/_standin/requests")
             if request["method"] == "POST" and request["path"] == "/v1/checkout/sessions"
             and ["client_reference_id", PROXY_USER] in request["params"]]
    if len(calls) != 1:
        problems.append(f"{len(calls)} Stripe calls for the proxy-header request recorded by the stand-in, want 1")
    return problems


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
    limit_s, min_new_processes = BURST[mount.name]
    if elapsed >= limit_s:
        problems.append(f"took {elapsed:.1f} s, want < {limit_s} s")
    if started_processes < min_new_processes:
        problems.append(f"{started_processes} processes started for the burst, want >= {min_new_processes}")
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


# ---------------------------------------------------------------- the billing loop

PREFIX = ROUTE.rsplit("/", 1)[0]
LOOP_MOUNTS = ("lighttpd",)
CHECKOUT_URL = "https://checkout.stripe.com/c/pay/cs_test_"
PORTAL_URL = "https://billing.stripe.com/p/session/"
COMPLETED_EVENTS = ["checkout.session.completed", "customer.subscription.created", "customer.subscription.updated",
                    "invoice.paid"]
CONCURRENT_CHECKOUTS = 10
CONCURRENT_LATENCY_MS = 300


def start_loop_lighttpd(mount, webhook_secret):
    """A second lighttpd beside the mount's, with the shipped config, run as the server user as Debian runs it, and
    the binary's settings keeping the state in a SQLite file in a directory only that user can write (state_dir).

    Returns (port, path of the SQLite file).
    """
    directory = os.path.join(mount.dir, "loop")
    os.makedirs(directory)
    # lighttpd creates the binary's socket here after it has dropped to the server user.
    give_to_server_user(directory, 0o755)
    database = os.path.join(state_dir(directory), "billing.sqlite")
    settings = write_settings(directory, mount.stand_in, database_url=f"sqlite:{database}",
                              webhook_secret=webhook_secret)
    port = free_port()
    error_log = os.path.join(directory, "error.log")
    out = os.path.join(directory, "server.out")
    mount.logs += [error_log, out]
    user = [f'server.username = "{SERVER_USER}"', f'server.groupname = "{SERVER_USER}"'] if SERVER_USER else []
    start_lighttpd(directory, BIN, port, binary_env(settings), out, error_log=error_log, extra=user)
    return port, database


class LoopClient:
    """The browser's calls through lighttpd, and the stand-in's record of what the binary asked Stripe."""

    def __init__(self, port, stand_in):
        self.port = port
        self.stand_in = stand_in

    def call(self, method, path, user, body=None, content_type=None):
        headers = {"Authorization": f"Bearer {token(user)}"}
        if content_type:
            headers["Content-Type"] = content_type
        status, _, raw = http_request(self.port, method, PREFIX + path, body=body, headers=headers)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return status, parsed, raw

    def checkout(self, user):
        return self.call("POST", "/checkout", user, body=b"{}", content_type="application/json")

    def subscription(self, user):
        return self.call("GET", "/subscription", user)

    def portal(self, user):
        return self.call("POST", "/portal", user)

    def stripe_calls(self, method, path, user=None):
        """The /v1 requests the stand-in recorded with that method and path (for one user's checkouts: its
        client_reference_id)."""
        found = []
        for request in self.stand_in.control("GET", "/_standin/requests"):
            if request["method"] != method or request["path"] != path:
                continue
            if user is not None and ["client_reference_id", user] not in request["params"]:
                continue
            found.append(request)
        return found

    def checkout_url(self, user, problems):
        """One checkout that must be a 200 with a session URL; the URL, else None (with the problem noted)."""
        status, parsed, raw = self.checkout(user)
        url = parsed.get("url") if isinstance(parsed, dict) else None
        if status != 200 or not isinstance(url, str) or not url.startswith(CHECKOUT_URL):
            problems.append(f"checkout: {status} {raw[:200]!r}, want 200 with a {CHECKOUT_URL}… url")
            return None
        return url


def control_answer(stand_in, path, body, problems, what):
    """A stand-in control that produces events; its answer, or None when it refused (noted in problems)."""
    answer = stand_in.control("POST", path, body)
    if not isinstance(answer, dict) or "deliveries" not in answer:
        problems.append(f"{what}: the stand-in answered {json.dumps(answer)[:300]}")
        return None
    return answer


def delivery_problems(answer, want_status, what):
    """Every delivery in a control's answer must have reached the webhook and got want_status."""
    deliveries = answer["deliveries"]
    if not deliveries:
        return [f"{what}: nothing was delivered"]
    wrong = [(d["type"], d["status"], d.get("error")) for d in deliveries if d["status"] != want_status]
    if wrong:
        return [f"{what}: deliveries answered {wrong}, want {want_status} each"]
    return []


def subscription_problems(client, user, want_status, want_active):
    status, parsed, raw = client.subscription(user)
    if status != 200 or not isinstance(parsed, dict) or parsed.get("status") != want_status \
            or parsed.get("active") is not want_active:
        return [f"subscription: {status} {raw[:300]!r}, want 200 with status {want_status}, "
                f"active {json.dumps(want_active)}"]
    return []


def subscription_id(answer):
    """The subscription's id from the events of a completed Checkout."""
    for event in answer["events"]:
        if event["type"].startswith("customer.subscription."):
            return json.loads(event["body"])["data"]["object"]["id"]
    return None


def whole_loop(client, stand_in, database, user="user_loop"):
    """checkout → again (no Stripe call) → paid → active → 409 → portal → canceled → checkout again.

    Yields (check, problems); stops at the first check that fails, since each step needs the one before.
    """
    problems = []
    first = client.checkout_url(user, problems)
    if first is not None:
        again = client.checkout_url(user, problems)
        if again is not None and again != first:
            problems.append(f"second checkout answered {again}, want the open session {first} again")
        creates = len(client.stripe_calls("POST", "/v1/checkout/sessions", user))
        if creates != 1:
            problems.append(f"{creates} POST /v1/checkout/sessions for two checkouts, want 1")
    if not os.path.isfile(database):
        problems.append(f"no SQLite file at {database}")
    yield "loop-checkout", problems
    if problems:
        return

    problems = []
    answer = control_answer(stand_in, f"/_standin/checkout/sessions/{first.rsplit('/', 1)[1]}/complete", {},
                            problems, "complete")
    if answer is not None:
        types = [event["type"] for event in answer["events"]]
        if types != COMPLETED_EVENTS:
            problems.append(f"events {types}, want {COMPLETED_EVENTS}")
        problems += delivery_problems(answer, 200, "complete")
    yield "loop-complete", problems
    if problems:
        return
    sub_id = subscription_id(answer)

    problems = subscription_problems(client, user, "active", True)
    yield "loop-active", problems
    if problems:
        return

    status, _, raw = client.checkout(user)
    problems = [] if (status, raw) == (409, b'{"detail":"Already subscribed"}') else \
        [f"checkout: {status} {raw[:200]!r}, want 409 {{\"detail\":\"Already subscribed\"}}"]
    yield "loop-already-subscribed", problems

    status, parsed, raw = client.portal(user)
    url = parsed.get("url") if isinstance(parsed, dict) else None
    problems = [] if status == 200 and isinstance(url, str) and url.startswith(PORTAL_URL) else \
        [f"portal: {status} {raw[:200]!r}, want 200 with a {PORTAL_URL}… url"]
    yield "loop-portal", problems

    problems = []
    answer = control_answer(stand_in, f"/_standin/subscriptions/{sub_id}/update", {"status": "canceled"}, problems,
                            "cancel")
    if answer is not None:
        problems += delivery_problems(answer, 200, "cancel")
        problems += subscription_problems(client, user, "canceled", False)
    yield "loop-cancel", problems
    if problems:
        return

    problems = []
    renewed = client.checkout_url(user, problems)
    if renewed is not None and renewed == first:
        problems.append(f"checkout answered the completed session {first} again")
    yield "loop-checkout-again", problems


def duplicate_reversed(client, stand_in, user="user_loop_order"):
    """Every event twice, the last first (the final state, then the stale "created (incomplete)"): active."""
    problems = []
    url = client.checkout_url(user, problems)
    if url is not None:
        answer = control_answer(stand_in, f"/_standin/checkout/sessions/{url.rsplit('/', 1)[1]}/complete",
                                {"deliver": {"duplicate": True, "reverse": True}}, problems, "complete")
        if answer is not None:
            types = [delivery["type"] for delivery in answer["deliveries"]]
            want = [kind for kind in reversed(COMPLETED_EVENTS) for _ in (1, 2)]
            if types != want:
                problems.append(f"delivered {types}, want {want}")
            problems += delivery_problems(answer, 200, "complete")
            problems += subscription_problems(client, user, "active", True)
    return problems


def bad_signature(client, stand_in, user="user_loop_forged"):
    """Events signed with another secret: 400 each, and nothing changes (no subscription, not even a Stripe read)."""
    problems = []
    url = client.checkout_url(user, problems)
    if url is not None:
        answer = control_answer(stand_in, f"/_standin/checkout/sessions/{url.rsplit('/', 1)[1]}/complete",
                                {"deliver": {"badSignature": True}}, problems, "complete")
        if answer is not None:
            problems += delivery_problems(answer, 400, "complete")
            problems += subscription_problems(client, user, "none", False)
            reads = client.stripe_calls("GET", f"/v1/subscriptions/{subscription_id(answer)}")
            if reads:
                problems.append(f"{len(reads)} subscription reads from Stripe after forged events, want 0")
    return problems


def concurrent_checkouts(client, stand_in, user="user_loop_concurrent"):
    """Ten checkouts at once for one new user, Stripe answering after 300 ms: one session, created once."""
    results = [None] * CONCURRENT_CHECKOUTS
    barrier = threading.Barrier(CONCURRENT_CHECKOUTS)

    def one(i):
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
    statuses = sorted({status for status, _, _ in results}, key=str)
    urls = {parsed.get("url") for status, parsed, _ in results if status == 200 and isinstance(parsed, dict)}
    if statuses != [200]:
        problems.append(f"statuses {[status for status, _, _ in results]}; "
                        f"first error: {next(raw[:200] for status, _, raw in results if status != 200)!r}")
    if len(urls) != 1 or not all(isinstance(url, str) and url.startswith(CHECKOUT_URL) for url in urls):
        problems.append(f"{len(urls)} distinct session urls, want 1: {sorted(map(str, urls))[:3]}")
    creates = len(client.stripe_calls("POST", "/v1/checkout/sessions", user))
    if creates != 1:
        problems.append(f"{creates} POST /v1/checkout/sessions recorded, want 1")
    return elapsed, problems


def billing_loop(mount):
    """The billing loop through a second lighttpd with the shipped config, the state in a SQLite file and the
    stand-in delivering its events, signed with the settings' webhook secret, to the webhook over HTTP.

    Yields (check, problems) for each check.
    """
    stand_in = mount.stand_in
    stand_in.control("POST", "/_standin/reset", {})
    secret = "whsec_" + os.urandom(24).hex()
    try:
        port, database = start_loop_lighttpd(mount, secret)
        webhook = f"http://127.0.0.1:{port}{PREFIX}/webhook"
        settings = stand_in.control("POST", "/_standin/webhook", {"url": webhook, "secret": secret})
        if settings.get("url") != webhook:
            raise RuntimeError(f"the stand-in's webhook settings: {settings}")
    except Exception as error:
        yield "loop-start", [f"{type(error).__name__}: {error}"]
        return
    yield "loop-start", []
    client = LoopClient(port, stand_in)
    # (name for an exception, the checks); each runs even when one before failed.
    checks = [
        ("loop-whole", lambda: whole_loop(client, stand_in, database)),
        ("loop-duplicate-reversed", lambda: [("loop-duplicate-reversed", duplicate_reversed(client, stand_in))]),
        ("loop-bad-signature", lambda: [("loop-bad-signature", bad_signature(client, stand_in))]),
    ]
    for name, check in checks:
        try:
            yield from check()
        except Exception as error:
            yield name, [f"{type(error).__name__}: {error}"]
    try:
        elapsed, problems = concurrent_checkouts(client, stand_in)
        print(f"# lighttpd: {CONCURRENT_CHECKOUTS} concurrent checkouts for one user at {CONCURRENT_LATENCY_MS} ms "
              f"Stripe latency took {elapsed:.2f} s", flush=True)
    except Exception as error:
        problems = [f"{type(error).__name__}: {error}"]
    yield "loop-concurrent-checkouts", problems


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

    global PROXY_TRAP
    PROXY_TRAP = ProxyTrap()
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
            trap_before = len(PROXY_TRAP.seen())
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
            problems = proxy_header_problems(mount, trap_before)
            report(not problems, name, "proxy-header-direct", "; ".join(problems))
            mount_failed |= bool(problems)
            # A body far over the web server's cap: refused while most of it is unsent (huge_body).
            for chunked in (False, True):
                status, by_binary, sent_at_answer, problems = huge_body(
                    port, chunked=chunked, want_status=HUGE_CHUNKED_STATUS.get(name, 413) if chunked else 413,
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
            if name in LOOP_MOUNTS:
                for case, problems in billing_loop(mount):
                    report(not problems, name, case, "; ".join(problems))
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

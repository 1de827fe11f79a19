"""Load generation and answer checking for the soak (harness/soak.py; standard library only).

Every request has a kind; every kind has exactly one correct answer (status and body bytes; a 200's session URL
only by prefix). A response that the web server made itself (lighttpd's HTML 5xx page) is classified separately,
so the lifecycle checks can allow it while the soak does not.
"""
import http.client
import json
import random
import threading
import time

from . import FRONTEND, ROUTE

URL_PREFIX = b'{"url":"https://checkout.stripe.com/c/pay/cs_test_'
MAX_BODY = 64 * 1024

GOOD_URLS = json.dumps({"success_url": f"{FRONTEND}/dashboard?success=true&s={{CHECKOUT_SESSION_ID}}",
                        "cancel_url": f"{FRONTEND}/dashboard?canceled=true"}).encode()
INVALID_JSON = b'{"success_url": '
FOREIGN = b'{"success_url":"https://evil.example/steal"}'
ATTRIBUTES_MSG = "Input should be a valid dictionary or object to extract fields from"

# kind -> (expected status, expected body bytes, or None for a 200 session URL)
EXPECTED = {
    "valid": (200, None),
    "valid-urls": (200, None),
    "valid-pro": (200, None),
    "no-token": (401, b'{"detail":"Not authenticated"}'),
    "bad-token": (401, b'{"detail":"Could not validate credentials"}'),
    "invalid-json": (422, b'{"detail":[{"type":"json_invalid","loc":["body",16],"msg":"JSON decode error",'
                          b'"input":{},"ctx":{"error":"Expecting value"}}]}'),
    "json-array": (422, b'{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"' + ATTRIBUTES_MSG.encode()
                   + b'","input":[]}]}'),
    "foreign-origin": (422, b'{"detail":[{"type":"value_error","loc":["body","success_url"],'
                            b'"msg":"Value error, URL origin https://evil.example is not allowed",'
                            b'"input":"https://evil.example/steal",'
                            b'"ctx":{"error":"URL origin https://evil.example is not allowed"}}]}'),
    "wrong-path": (404, b'{"detail":"Not Found"}'),
    "get": (405, b'{"detail":"Method Not Allowed"}'),
    "oversized": (413, b'{"detail":"Request body too large"}'),
}

# Share of each kind in the soak (per 100 requests). Valid requests cost ~10x the CPU of the others (a Stripe
# round trip through URLSession and the stand-in), so they are a fifth of the mix.
SOAK_MIX = {
    "valid": 12, "valid-urls": 3, "valid-pro": 5,
    "no-token": 12, "bad-token": 12, "invalid-json": 12, "json-array": 12, "foreign-origin": 12,
    "wrong-path": 8, "get": 8, "oversized": 4,
}


class Requests:
    """Pre-built requests per kind (tokens minted once; each kind cycles through a pool of users)."""

    def __init__(self, mint, users=64):
        json_h = {"Content-Type": "application/json"}
        self.basic = [{**json_h, "Authorization": "Bearer " + mint(f"user_soak_{i}")} for i in range(users)]
        self.pro = [{**json_h, "Authorization": "Bearer " + mint(f"user_soak_pro_{i}", plan="pro")}
                    for i in range(users)]
        good = mint("user_soak_bad")
        self.bad = {**json_h, "Authorization": "Bearer " + good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")}
        self.no_token = json_h
        self.oversized = b'{"success_url":"' + b"a" * (MAX_BODY + 1 - 18) + b'"}'
        assert len(self.oversized) == MAX_BODY + 1

    def build(self, kind, i):
        """(method, path, body, headers) for request number i of this kind."""
        basic = self.basic[i % len(self.basic)]
        if kind == "valid":
            return "POST", ROUTE, b"{}", basic
        if kind == "valid-urls":
            return "POST", ROUTE, GOOD_URLS, basic
        if kind == "valid-pro":
            return "POST", ROUTE, GOOD_URLS, self.pro[i % len(self.pro)]
        if kind == "no-token":
            return "POST", ROUTE, GOOD_URLS, self.no_token
        if kind == "bad-token":
            return "POST", ROUTE, GOOD_URLS, self.bad
        if kind == "invalid-json":
            return "POST", ROUTE, INVALID_JSON, basic
        if kind == "json-array":
            return "POST", ROUTE, b"[]", basic
        if kind == "foreign-origin":
            return "POST", ROUTE, FOREIGN, basic
        if kind == "wrong-path":
            return "POST", "/api/v1/billing/nope", b"{}", basic
        if kind == "get":
            return "GET", ROUTE, None, basic
        if kind == "oversized":
            return "POST", ROUTE, self.oversized, basic
        raise ValueError(kind)


def classify(kind, status, headers, body):
    """Returns (class, problem). class: 'contract' (the binary's correct answer), 'server-5xx' (a complete error page
    the web server made itself), or 'wrong'; problem is None unless class is 'wrong'."""
    length = headers.get("content-length")
    if length is not None and int(length) != len(body):
        return "wrong", f"Content-Length {length} but {len(body)} body bytes"
    want_status, want_body = EXPECTED[kind]
    ctype = headers.get("content-type", "")
    if status == want_status and ctype == "application/json":
        if want_body is None:
            if body.startswith(URL_PREFIX) and body.endswith(b'"}'):
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                if isinstance(parsed, dict) and list(parsed) == ["url"] and isinstance(parsed["url"], str):
                    return "contract", None
        elif body == want_body:
            return "contract", None
    if 500 <= status <= 599 and ctype.startswith("text/html") and length is not None:
        text = body.decode("latin-1")
        if f"<h1>{status} " in text and text.rstrip().endswith("</html>"):
            return "server-5xx", None
    return "wrong", f"{kind}: status {status} {ctype!r}, body {body[:300]!r}, want {want_status} {want_body!r}"


class Result:
    __slots__ = ("kind", "start", "end", "status", "cls", "problem")

    def __init__(self, kind, start, end, status, cls, problem):
        self.kind, self.start, self.end, self.status, self.cls, self.problem = kind, start, end, status, cls, problem


class Load:
    """Runs `threads` keep-alive clients until `total` requests were sent (or `stop` is set when total is None).

    kinds: a list chosen round-robin by request number (shuffle it for a mix). keep: record every Result (for the
    timing analysis of the lifecycle checks); otherwise only counts and the first failures are kept. reuse=False:
    a new connection per request, so that a request can never meet a kept-alive connection the server has just
    closed for being idle (lighttpd closes them after 5 s; http.client does not retry).
    """

    def __init__(self, port, requests, kinds, threads=16, total=None, keep=False, timeout=60, pace=0.0,
                 reuse=True):
        self.port, self.requests, self.kinds, self.threads, self.pace = port, requests, kinds, threads, pace
        self.reuse = reuse
        self.total, self.keep, self.timeout = total, keep, timeout
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.next_index = 0
        self.done = [0] * threads
        self.counts = {}  # (kind, cls, status) -> n
        self.problems = []  # first 20 problem strings
        self.problem_count = 0
        self.exceptions = 0
        self.results = []
        self.connections = [0] * threads
        self.workers = []
        self.started = self.finished = None

    def completed(self):
        return sum(self.done)

    def _take(self):
        with self.lock:
            i = self.next_index
            if self.total is not None and i >= self.total:
                return None
            self.next_index = i + 1
            return i

    def _note(self, key, problem, result):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            if problem is not None:
                self.problem_count += 1
                if len(self.problems) < 20:
                    self.problems.append(problem)
            if result is not None:
                self.results.append(result)

    def _run(self, slot):
        conn = None
        kinds = self.kinds
        next_start = time.monotonic()
        while not self.stop.is_set():
            if self.pace:  # at most one request per `pace` seconds per client
                delay = next_start - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                next_start = max(next_start + self.pace, time.monotonic() - self.pace)
            i = self._take()
            if i is None:
                break
            kind = kinds[i % len(kinds)]
            method, path, body, headers = self.requests.build(kind, i)
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            start = time.monotonic()
            try:
                if conn.sock is None:  # new, or closed after a "Connection: close" answer
                    self.connections[slot] += 1
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                status = response.status
                got = {k.lower(): v for k, v in response.getheaders()}
            except (OSError, http.client.HTTPException) as error:
                end = time.monotonic()
                conn.close()
                conn = None
                with self.lock:
                    self.exceptions += 1
                problem = f"{kind}: {type(error).__name__}: {error} (no complete response)"
                self._note((kind, "cut", None), problem,
                           Result(kind, start, end, None, "cut", problem) if self.keep else None)
                self.done[slot] += 1
                continue
            end = time.monotonic()
            if not self.reuse:
                conn.close()
                conn = None
            cls, problem = classify(kind, status, got, data)
            self._note((kind, cls, status), problem,
                       Result(kind, start, end, status, cls, problem) if self.keep else None)
            self.done[slot] += 1
        if conn is not None:
            conn.close()

    def start(self):
        self.started = time.monotonic()
        self.workers = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(self.threads)]
        for worker in self.workers:
            worker.start()
        return self

    def join(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        for worker in self.workers:
            worker.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self.finished = time.monotonic()
        return not any(w.is_alive() for w in self.workers)

    def summary(self, key=lambda k: k):
        """Counts grouped by key(kind, cls, status)."""
        out = {}
        for k, n in self.counts.items():
            g = key(k)
            out[g] = out.get(g, 0) + n
        return out


def mix(weights, seed=20251125):
    kinds = [kind for kind, n in weights.items() for _ in range(n)]
    random.Random(seed).shuffle(kinds)
    return kinds


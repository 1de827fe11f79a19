"""One HTTP/1.1 request over a fresh connection to 127.0.0.1 (http.client; standard library only)."""
import http.client


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

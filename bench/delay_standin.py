#!/usr/bin/env python3
"""Stripe stand-in with a fixed added latency, for scripts/bench: answers every HTTP/1.1 request after
DELAY seconds with the fixed session JSON. asyncio with a bare Protocol (no per-request coroutine),
keep-alive, so one process sustains hundreds of concurrent requests. usage: delay_standin.py PORT [DELAY]"""
import asyncio, sys

BODY = b'{"id":"cs_test_bench","object":"checkout.session","url":"https://checkout.stripe.com/c/pay/cs_test_bench"}'
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nRequest-Id: req_bench_slow\r\n"
            b"Content-Length: " + str(len(BODY)).encode() + b"\r\nConnection: keep-alive\r\n\r\n" + BODY)


class Delayed(asyncio.Protocol):
    def __init__(self, delay):
        self.delay, self.buffer, self.transport = delay, b"", None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        loop = asyncio.get_running_loop()
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or 0)
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            loop.call_later(self.delay, self._answer)

    def _answer(self):
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(RESPONSE)

    def connection_lost(self, exc):
        self.transport = None


async def main(port, delay):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Delayed(delay), "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.3))

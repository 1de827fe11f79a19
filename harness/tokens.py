"""HS256 bearer tokens (compact JWS), as billing-checkout verifies them. Standard library only.

TEST_SECRET is the secret of the web-server tests and the soak (a fresh one per run); scripts/dev-token and the
benchmark mint with their own.
"""
import base64
import hashlib
import hmac
import json
import os
import time

TEST_SECRET = "webservers-test-secret-" + os.urandom(16).hex()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode_hs256(claims, secret):
    """The compact token for a claims dict (keys in the dict's order), signed with secret."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def mint(secret, sub, ttl=3600, **claims):
    """A token for sub, issued now and valid for ttl seconds, with further claims after sub, iat and exp."""
    now = int(time.time())
    return encode_hs256({"sub": sub, "iat": now, "exp": now + ttl, **claims}, secret)


def token(sub="user_web_1", **claims):
    """A test token signed with TEST_SECRET: an hour, and an email derived from sub."""
    return mint(TEST_SECRET, sub, email=f"{sub}@example.com", **claims)

#!/usr/bin/env python3
"""Mints a local HS256 staff JWT the local API accepts (secret: LOCAL_JWT_SECRET, default
local-dev-secret). Customers sign in with portal links (POST /accounts/{id}/portal-links).

  python3 scripts/mint_token.py staff
"""
import argparse, base64, hashlib, hmac, json, os, time

def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

def mint(claims: dict, secret: str) -> str:
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(sig)}"

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("role", choices=["staff"])
p.add_argument("--ttl", type=int, default=3600, help="seconds until the token expires")
a = p.parse_args()
now = int(time.time())
claims = {"iss": "local", "aud": "agreements-local", "iat": now, "exp": now + a.ttl}
claims.update(sub="staff-local", scope="agreements.admin")
print(mint(claims, os.environ.get("LOCAL_JWT_SECRET", "local-dev-secret")))

#!/usr/bin/env python3
"""Mints a local HS256 JWT the local API accepts (secret: LOCAL_JWT_SECRET, default local-dev-secret).

  python3 scripts/mint_token.py staff
  python3 scripts/mint_token.py customer --account ACCOUNT_ID --contact CONTACT_ID
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
p.add_argument("role", choices=["staff", "customer"])
p.add_argument("--account")
p.add_argument("--contact")
p.add_argument("--ttl", type=int, default=3600, help="seconds until the token expires")
a = p.parse_args()
now = int(time.time())
claims = {"iss": "local", "aud": "agreements-local", "iat": now, "exp": now + a.ttl}
if a.role == "staff":
    claims.update(sub="staff-local", scope="agreements.admin")
else:
    if not (a.account and a.contact):
        p.error("customer tokens need --account and --contact")
    claims.update(sub=f"contact-{a.contact}", scope="agreements.portal", account_id=a.account, contact_id=a.contact)
print(mint(claims, os.environ.get("LOCAL_JWT_SECRET", "local-dev-secret")))

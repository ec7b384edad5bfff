#!/usr/bin/env python3
"""Configure a fresh Glewlwyd 2.7 server for the resource-server integration tests.

Python 3 standard library only; signing keys are generated with the `openssl`
command-line tool.  Everything goes through Glewlwyd's admin REST API, logged in
as the default administrator of a fresh database (`admin` / `password`).

    configure.py setup  --port PORT --workdir DIR   # scopes, OIDC plugin, clients
    configure.py rotate --port PORT --workdir DIR   # add a new signing key (key rotation)
    configure.py show   --workdir DIR               # print the summary written by setup

`setup` is idempotent: it updates what already exists.  It writes
DIR/glewlwyd.json and DIR/glewlwyd.env (issuer, endpoints, client credentials,
kids) for the tests to read.

What `setup` creates:
  * scopes `charge:customer` and `introspect`;
  * an OIDC plugin instance `oidc` (module `oidc`): RFC 9068 JWT access tokens
    (header typ `at+jwt`), signed with an openssl-generated key given to the
    plugin as a private JWKS (`jwks-private`), client_credentials allowed
    (`allow-non-oidc` + `auth-type-client-enabled`), token introspection and
    revocation enabled, RFC 8707 resource indicators enabled, JWKS published;
  * confidential client `payments-client` / `secret`: client_credentials, scope
    `charge:customer`, allowed resources (`resource` property) = --resource;
  * confidential client `resource-server` / `rs-secret`: client_credentials,
    scope `introspect` (may introspect with HTTP Basic, or with a Bearer token
    carrying the `introspect` scope);
  * an admin API key (DIR/admin-api-key), usable as `Authorization: token KEY`.
"""

import argparse
import base64
import hashlib
import http.cookiejar
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

ADMIN_USER = "admin"
ADMIN_PASSWORD = "password"  # default of the schema shipped by the Debian package
PLUGIN = "oidc"
PAYMENTS_CLIENT = ("payments-client", "secret")
RS_CLIENT = ("resource-server", "rs-secret")
# a client for the same resource without the payments scope (403 tests)
REPORTS_CLIENT = ("reports-client", "reports-secret")
PAYMENTS_SCOPE = "charge:customer"
REPORTS_SCOPE = "read:reports"
INTROSPECT_SCOPE = "introspect"
# RFC 8707 resources payments-client may ask for (space-separated in GLEWLWYD_RESOURCES)
DEFAULT_RESOURCES = os.environ.get("GLEWLWYD_RESOURCES", "").split() or ["https://payments.example/"]


def log(msg):
    print(f"[configure] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- keys

def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64u(hexstr: str) -> str:
    n = int(hexstr, 16)
    return b64u(n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big"))


def _openssl_text_fields(text: str) -> dict:
    """Parse `openssl {rsa,ec} -noout -text` output into {field: hexstring}."""
    fields, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z0-9 ]+):\s*(.*)$", line)
        if m and not line.startswith(" "):
            cur = m.group(1).strip()
            rest = m.group(2).strip()
            # "publicExponent: 65537 (0x10001)"
            m2 = re.search(r"\(0x([0-9a-fA-F]+)\)", rest)
            fields[cur] = m2.group(1) if m2 else ""
            if not m2 and rest:
                fields[cur] = rest  # e.g. "NIST CURVE: P-256"
            if m2:
                cur = None
        elif cur is not None and line.startswith(" "):
            fields[cur] += line.strip().replace(":", "")
    return fields


def generate_key(keydir: str, kid: str, alg: str) -> dict:
    """Generate a private key with openssl, return it as a private JWK."""
    os.makedirs(keydir, exist_ok=True)
    pem = os.path.join(keydir, f"{kid}.pem")
    if alg.startswith(("RS", "PS")):
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", pem], check=True, capture_output=True)
        text = subprocess.run(["openssl", "rsa", "-in", pem, "-noout", "-text"], check=True,
                              capture_output=True, text=True).stdout
        f = _openssl_text_fields(text)
        jwk = {"kty": "RSA", "n": _int_b64u(f["modulus"]), "e": _int_b64u(f["publicExponent"]),
               "d": _int_b64u(f["privateExponent"]), "p": _int_b64u(f["prime1"]),
               "q": _int_b64u(f["prime2"]), "dp": _int_b64u(f["exponent1"]),
               "dq": _int_b64u(f["exponent2"]), "qi": _int_b64u(f["coefficient"])}
    elif alg == "ES256":
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-out", pem], check=True, capture_output=True)
        text = subprocess.run(["openssl", "ec", "-in", pem, "-noout", "-text"], check=True,
                              capture_output=True, text=True).stdout
        f = _openssl_text_fields(text)
        pub = bytes.fromhex(f["pub"])
        assert pub[0] == 4 and len(pub) == 65, "unexpected EC public key encoding"
        d = int(f["priv"], 16).to_bytes(32, "big")
        jwk = {"kty": "EC", "crv": "P-256", "x": b64u(pub[1:33]), "y": b64u(pub[33:]), "d": b64u(d)}
    else:
        raise SystemExit(f"unsupported --alg {alg} (use RS256, RS384, RS512, PS256 or ES256)")
    subprocess.run(["openssl", "pkey", "-in", pem, "-pubout", "-out",
                    os.path.join(keydir, f"{kid}.pub.pem")], check=True, capture_output=True)
    jwk["kid"] = kid
    jwk["alg"] = alg
    jwk["use"] = "sig"
    return jwk


def public_jwk(jwk: dict) -> dict:
    keep = {"RSA": ("kty", "n", "e"), "EC": ("kty", "crv", "x", "y")}[jwk["kty"]]
    out = {k: jwk[k] for k in keep}
    out.update({"kid": jwk["kid"], "alg": jwk["alg"], "use": "sig"})
    return out


def thumbprint(jwk: dict) -> str:
    """RFC 7638 JWK thumbprint (SHA-256)."""
    req = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}[jwk["kty"]]
    canon = json.dumps({k: jwk[k] for k in req}, separators=(",", ":"), sort_keys=True)
    return b64u(hashlib.sha256(canon.encode()).digest())


# --------------------------------------------------------------------------- API

class Admin:
    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def call(self, method, path, body=None, ok=(200,)):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with self.opener.open(req, timeout=30) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        if status not in ok:
            raise SystemExit(f"{method} {path} -> HTTP {status}: {raw.decode(errors='replace')}")
        try:
            return status, (json.loads(raw) if raw else None)
        except ValueError:
            return status, raw.decode(errors="replace")

    def login(self):
        self.call("POST", "/auth/", {"username": ADMIN_USER, "password": ADMIN_PASSWORD})

    def upsert(self, coll, key, body):
        status, _ = self.call("GET", f"/{coll}/{key}", ok=(200, 404))
        if status == 404:
            self.call("POST", f"/{coll}/", body)
            return "created"
        self.call("PUT", f"/{coll}/{key}", body)
        return "updated"


def plugin_parameters(issuer: str, jwks_private: dict, default_kid: str, at_duration: int) -> dict:
    return {
        "iss": issuer,
        # signing keys: a private JWKS; the public part is served at <plugin>/jwks
        "jwks-private": json.dumps(jwks_private),
        "default-kid": default_kid,
        "jwks-show": True,
        "jwks-uri": "",
        "jwks-public": "",
        "jwks-public-uri": "",
        "client-sign_kid-parameter": "",
        "access-token-duration": at_duration,
        "refresh-token-duration": 1209600,
        "code-duration": 600,
        "refresh-token-rolling": True,
        # client_credentials is "non OIDC but valid OAuth2": both flags are needed
        "allow-non-oidc": True,
        "auth-type-client-enabled": True,
        "auth-type-code-enabled": True,
        "auth-type-token-enabled": False,
        "auth-type-id-token-enabled": True,
        "auth-type-none-enabled": False,
        "auth-type-password-enabled": False,
        "auth-type-device-enabled": False,
        "auth-type-refresh-enabled": True,
        # RFC 7662 introspection + RFC 7009 revocation
        "introspection-revocation-allowed": True,
        # any confidential client with the client_credentials grant may use HTTP Basic
        "introspection-revocation-allow-target-client": True,
        # ...or a Bearer access token carrying one of these scopes
        "introspection-revocation-auth-scope": [INTROSPECT_SCOPE],
        # RFC 8707 resource indicators: `resource` form parameter -> `aud` claim,
        # allowed values are listed in the client's `resource` property
        "resource-allowed": True,
        "resource-scope": {},
        "resource-client-property": "resource",
        "resource-scope-and-client-property": False,
        "allowed-scope": ["openid", PAYMENTS_SCOPE, REPORTS_SCOPE, INTROSPECT_SCOPE],
        "scope": [],
        "additional-parameters": [],
        "claims": [],
        "secret-type": "public",
        "name-claim": "no",
        "email-claim": "no",
        "scope-claim": "no",
        "address-claim": {"type": "no"},
        "service-documentation": "",
        "op-policy-uri": "",
        "op-tos-uri": "",
    }


def scope_body(name, desc):
    return {"name": name, "display_name": name, "description": desc,
            "password_required": False, "password_max_age": 0, "scheme": {}}


def client_body(client_id, secret, scopes, resources=None):
    body = {"client_id": client_id, "name": client_id, "description": "integration tests",
            "enabled": True, "confidential": True, "client_secret": secret,
            "authorization_type": ["client_credentials"], "scope": scopes, "redirect_uri": [],
            "token_endpoint_auth_method": ["client_secret_basic", "client_secret_post"]}
    if resources is not None:
        body["resource"] = resources
    return body


def paths(workdir):
    return {"jwks": os.path.join(workdir, "keys", "jwks-private.json"),
            "keydir": os.path.join(workdir, "keys"),
            "summary": os.path.join(workdir, "glewlwyd.json"),
            "env": os.path.join(workdir, "glewlwyd.env"),
            "apikey": os.path.join(workdir, "admin-api-key")}


def load_jwks(p):
    with open(p) as fh:
        return json.load(fh)


def save_jwks(p, jwks):
    tmp = p + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(jwks, fh, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, p)
    pub = {"keys": [public_jwk(k) for k in jwks["keys"]]}
    with open(os.path.join(os.path.dirname(p), "jwks-public.json"), "w") as fh:
        json.dump(pub, fh, indent=2)


def write_summary(args, jwks, api_key):
    p = paths(args.workdir)
    root = f"http://127.0.0.1:{args.port}"
    issuer = f"{root}/api/{PLUGIN}"
    s = {
        "port": args.port,
        "base_url": root,
        "issuer": issuer,
        "discovery": f"{issuer}/.well-known/openid-configuration",
        "jwks_uri": f"{issuer}/jwks",
        "token_endpoint": f"{issuer}/token",
        "introspection_endpoint": f"{issuer}/introspect",
        "revocation_endpoint": f"{issuer}/revoke",
        "admin_api": f"{root}/api",
        "admin_api_key": api_key,
        "client_id": PAYMENTS_CLIENT[0],
        "client_secret": PAYMENTS_CLIENT[1],
        "scope": PAYMENTS_SCOPE,
        "resources": args.resource,
        "reports_client_id": REPORTS_CLIENT[0],
        "reports_client_secret": REPORTS_CLIENT[1],
        "reports_scope": REPORTS_SCOPE,
        "introspect_client_id": RS_CLIENT[0],
        "introspect_client_secret": RS_CLIENT[1],
        "introspect_scope": INTROSPECT_SCOPE,
        "access_token_duration": args.access_token_duration,
        "signing_kid": jwks["keys"][0]["kid"],
        "kids": [k["kid"] for k in jwks["keys"]],
        "algs": [k["alg"] for k in jwks["keys"]],
        "key_pems": [os.path.join(p["keydir"], k["kid"] + ".pem") for k in jwks["keys"]],
    }
    with open(p["summary"], "w") as fh:
        json.dump(s, fh, indent=2)
    env = {
        "GLEWLWYD_PORT": str(args.port), "GLEWLWYD_ISSUER": issuer,
        "GLEWLWYD_DISCOVERY": s["discovery"], "GLEWLWYD_JWKS_URI": s["jwks_uri"],
        "GLEWLWYD_TOKEN_ENDPOINT": s["token_endpoint"],
        "GLEWLWYD_INTROSPECTION_ENDPOINT": s["introspection_endpoint"],
        "GLEWLWYD_REVOCATION_ENDPOINT": s["revocation_endpoint"],
        "GLEWLWYD_ADMIN_API": s["admin_api"], "GLEWLWYD_ADMIN_API_KEY": api_key,
        "GLEWLWYD_CLIENT_ID": s["client_id"], "GLEWLWYD_CLIENT_SECRET": s["client_secret"],
        "GLEWLWYD_SCOPE": PAYMENTS_SCOPE, "GLEWLWYD_RESOURCE": args.resource[0] if args.resource else "",
        "GLEWLWYD_INTROSPECT_CLIENT_ID": RS_CLIENT[0],
        "GLEWLWYD_INTROSPECT_CLIENT_SECRET": RS_CLIENT[1],
        "GLEWLWYD_SIGNING_KID": s["signing_kid"],
    }
    with open(p["env"], "w") as fh:
        for k, v in env.items():
            fh.write(f"{k}='{v}'\n")
    return s


def push_plugin(admin, args, jwks):
    issuer = f"http://127.0.0.1:{args.port}/api/{PLUGIN}"
    body = {"module": "oidc", "name": PLUGIN, "display_name": "OpenID Connect (tests)",
            "enabled": True, "order_rank": 0,
            "parameters": plugin_parameters(issuer, jwks, jwks["keys"][0]["kid"],
                                            args.access_token_duration)}
    status, _ = admin.call("GET", f"/mod/plugin/{PLUGIN}", ok=(200, 404))
    if status == 404:
        admin.call("POST", "/mod/plugin/", body)
        return "created"
    admin.call("PUT", f"/mod/plugin/{PLUGIN}", body)
    # a PUT re-initialises the instance; "reset" reloads it explicitly (documented
    # way to pick up new keys)
    admin.call("PUT", f"/mod/plugin/{PLUGIN}/reset")
    return "updated"


def cmd_setup(args):
    p = paths(args.workdir)
    admin = Admin(f"http://127.0.0.1:{args.port}/api")
    admin.login()
    for name, desc in ((PAYMENTS_SCOPE, "charge a customer"),
                       (REPORTS_SCOPE, "read reports"),
                       (INTROSPECT_SCOPE, "introspect/revoke tokens")):
        log(f"scope {name}: {admin.upsert('scope', name, scope_body(name, desc))}")
    if os.path.exists(p["jwks"]):
        jwks = load_jwks(p["jwks"])
    else:
        jwks = {"keys": [generate_key(p["keydir"], "key-1", args.alg)]}
        save_jwks(p["jwks"], jwks)
    log(f"plugin {PLUGIN}: {push_plugin(admin, args, jwks)} (signing kid {jwks['keys'][0]['kid']})")
    log("client {}: {}".format(PAYMENTS_CLIENT[0], admin.upsert(
        "client", PAYMENTS_CLIENT[0],
        client_body(*PAYMENTS_CLIENT, [PAYMENTS_SCOPE], args.resource))))
    log("client {}: {}".format(REPORTS_CLIENT[0], admin.upsert(
        "client", REPORTS_CLIENT[0],
        client_body(*REPORTS_CLIENT, [REPORTS_SCOPE], args.resource))))
    log("client {}: {}".format(RS_CLIENT[0], admin.upsert(
        "client", RS_CLIENT[0], client_body(*RS_CLIENT, [INTROSPECT_SCOPE]))))
    if os.path.exists(p["apikey"]):
        api_key = open(p["apikey"]).read().strip()
    else:
        _, res = admin.call("POST", "/key/")
        api_key = res["key"]
        with open(p["apikey"], "w") as fh:
            fh.write(api_key + "\n")
    s = write_summary(args, jwks, api_key)
    # wait until the plugin answers (it is synchronous, but be safe)
    deadline = time.time() + 10
    while True:
        try:
            with urllib.request.urlopen(s["discovery"], timeout=5) as r:
                if r.status == 200:
                    break
        except Exception:
            pass
        if time.time() > deadline:
            raise SystemExit("discovery endpoint did not answer after configuration")
        time.sleep(0.1)
    print(json.dumps(s, indent=2))


def cmd_rotate(args):
    p = paths(args.workdir)
    summary = json.load(open(p["summary"])) if os.path.exists(p["summary"]) else {}
    args.resource = summary.get("resources", args.resource)
    if args.access_token_duration is None:
        args.access_token_duration = summary.get("access_token_duration", 3600)
    jwks = load_jwks(p["jwks"])
    n = 1 + max(int(m.group(1)) for k in jwks["keys"] if (m := re.match(r"key-(\d+)$", k["kid"])))
    new = generate_key(p["keydir"], f"key-{n}", args.alg)
    old = [] if args.drop_old else jwks["keys"][: max(0, args.keep)]
    jwks = {"keys": [new] + old}
    save_jwks(p["jwks"], jwks)
    admin = Admin(f"http://127.0.0.1:{args.port}/api")
    admin.login()
    push_plugin(admin, args, jwks)
    api_key = summary.get("admin_api_key") or open(p["apikey"]).read().strip()
    s = write_summary(args, jwks, api_key)
    log(f"new signing kid {new['kid']} ({new['alg']}); published kids: {s['kids']}")
    print(json.dumps(s, indent=2))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("setup", "rotate", "show"):
        sp = sub.add_parser(name)
        sp.add_argument("--workdir", required=True)
        if name != "show":
            sp.add_argument("--port", type=int, required=True)
            sp.add_argument("--alg", default=os.environ.get("GLEWLWYD_ALG", "RS256"),
                            help="RS256 (default), RS384, RS512, PS256 or ES256")
        if name != "show":
            sp.add_argument("--access-token-duration", type=int,
                            default=(int(os.environ["GLEWLWYD_ACCESS_TOKEN_DURATION"])
                                     if os.environ.get("GLEWLWYD_ACCESS_TOKEN_DURATION") else None),
                            help="access token lifetime in seconds (setup default 3600; "
                                 "rotate keeps the value of the last setup)")
        if name == "setup":
            sp.add_argument("--resource", action="append",
                            help="allowed RFC 8707 resource for payments-client (repeatable); "
                                 f"default {DEFAULT_RESOURCES}")
        if name == "rotate":
            sp.add_argument("--keep", type=int, default=1,
                            help="how many previous keys stay published (default 1)")
            sp.add_argument("--drop-old", action="store_true", help="publish only the new key")
            sp.set_defaults(resource=DEFAULT_RESOURCES)
    args = ap.parse_args()
    args.workdir = os.path.abspath(args.workdir)
    if args.cmd == "setup":
        args.resource = args.resource or DEFAULT_RESOURCES
        if args.access_token_duration is None:
            args.access_token_duration = 3600
        cmd_setup(args)
    elif args.cmd == "rotate":
        cmd_rotate(args)
    else:
        print(open(paths(args.workdir)["summary"]).read())


if __name__ == "__main__":
    main()

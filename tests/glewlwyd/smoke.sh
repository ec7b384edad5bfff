#!/usr/bin/env bash
# End-to-end check of a server started by start.sh: discovery, JWKS, a
# client_credentials token (decoded, signature verified with openssl against the
# key published in the JWKS), introspection (Basic and Bearer), revocation.
# usage: smoke.sh WORKDIR        (exit 0 when every check passes)
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: smoke.sh WORKDIR" >&2; exit 2; }
WORKDIR=$(cd "$1" && pwd)
# shellcheck disable=SC1091
. "$WORKDIR/glewlwyd.env"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
show() { printf '\n$ %s\n' "$*"; }
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }

show "curl -s $GLEWLWYD_DISCOVERY"
curl -sf "$GLEWLWYD_DISCOVERY" >"$TMP/discovery.json"
python3 -m json.tool <"$TMP/discovery.json"
jq_py "assert d['issuer']=='$GLEWLWYD_ISSUER', d['issuer']; assert d['jwks_uri']=='$GLEWLWYD_JWKS_URI'; assert d['introspection_endpoint']=='$GLEWLWYD_INTROSPECTION_ENDPOINT'" <"$TMP/discovery.json"

show "curl -s $GLEWLWYD_JWKS_URI"
curl -sf "$GLEWLWYD_JWKS_URI" >"$TMP/jwks.json"
python3 -m json.tool <"$TMP/jwks.json"

show "curl -s -u $GLEWLWYD_CLIENT_ID:$GLEWLWYD_CLIENT_SECRET -d grant_type=client_credentials -d scope=$GLEWLWYD_SCOPE -d resource=$GLEWLWYD_RESOURCE $GLEWLWYD_TOKEN_ENDPOINT"
curl -sf -u "$GLEWLWYD_CLIENT_ID:$GLEWLWYD_CLIENT_SECRET" -d grant_type=client_credentials \
  --data-urlencode "scope=$GLEWLWYD_SCOPE" --data-urlencode "resource=$GLEWLWYD_RESOURCE" \
  "$GLEWLWYD_TOKEN_ENDPOINT" >"$TMP/token.json"
python3 -m json.tool <"$TMP/token.json"
AT=$(jq_py 'print(d["access_token"])' <"$TMP/token.json")

show "# decoded access token (header, claims) and signature check against the JWKS"
python3 - "$AT" "$TMP/jwks.json" "$GLEWLWYD_ISSUER" "$GLEWLWYD_RESOURCE" "$GLEWLWYD_CLIENT_ID" "$GLEWLWYD_SCOPE" <<'EOF'
import base64, json, subprocess, sys, tempfile, os, time
tok, jwks_path, iss, aud, cid, scope = sys.argv[1:]
def b64d(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
h64, p64, s64 = tok.split(".")
header, claims, sig = json.loads(b64d(h64)), json.loads(b64d(p64)), b64d(s64)
print("header:", json.dumps(header))
print("claims:", json.dumps(claims, indent=2))
assert header["typ"] == "at+jwt", header
assert claims["iss"] == iss and claims["aud"] == aud and claims["client_id"] == cid, claims
assert claims["scope"] == scope and claims["exp"] > time.time() > claims["iat"] - 5, claims
key = next(k for k in json.load(open(jwks_path))["keys"] if k["kid"] == header["kid"])
assert key["alg"] == header["alg"], (key, header)
# JWK -> SubjectPublicKeyInfo DER (just enough ASN.1 for RSA and P-256) -> PEM
def der_len(n): return bytes([n]) if n < 128 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
def tlv(t, b): return bytes([t]) + der_len(len(b)) + b
def der_int(b):
    b = b.lstrip(b"\0") or b"\0"
    return tlv(0x02, b"\0" + b if b[0] & 0x80 else b)
if key["kty"] == "RSA":
    alg_id = tlv(0x30, tlv(0x06, bytes.fromhex("2a864886f70d010101")) + b"\x05\x00")
    spk = tlv(0x30, der_int(b64d(key["n"])) + der_int(b64d(key["e"])))
else:
    alg_id = tlv(0x30, tlv(0x06, bytes.fromhex("2a8648ce3d0201")) + tlv(0x06, bytes.fromhex("2a8648ce3d030107")))
    spk = b"\x04" + b64d(key["x"]) + b64d(key["y"])
    half = len(sig) // 2  # JWS ECDSA signature is r||s: openssl wants DER
    sig = tlv(0x30, der_int(sig[:half]) + der_int(sig[half:]))
spki = tlv(0x30, alg_id + tlv(0x03, b"\0" + spk))
pem = "-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(spki).decode() + "-----END PUBLIC KEY-----\n"
d = tempfile.mkdtemp()
for name, data in (("pub.pem", pem.encode()), ("sig", sig), ("data", f"{h64}.{p64}".encode())):
    open(os.path.join(d, name), "wb").write(data)
dg = "-sha" + header["alg"][2:]
opts = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1"] if header["alg"].startswith("PS") else []
r = subprocess.run(["openssl", "dgst", dg, *opts, "-verify", os.path.join(d, "pub.pem"),
                    "-signature", os.path.join(d, "sig"), os.path.join(d, "data")], capture_output=True, text=True)
print(f"signature ({header['alg']}, kid {header['kid']}) checked with openssl against the JWKS key:", r.stdout.strip() or r.stderr.strip())
assert r.returncode == 0
EOF

show "curl -s -u $GLEWLWYD_INTROSPECT_CLIENT_ID:$GLEWLWYD_INTROSPECT_CLIENT_SECRET -d token=\$AT $GLEWLWYD_INTROSPECTION_ENDPOINT"
curl -sf -u "$GLEWLWYD_INTROSPECT_CLIENT_ID:$GLEWLWYD_INTROSPECT_CLIENT_SECRET" --data-urlencode "token=$AT" \
  "$GLEWLWYD_INTROSPECTION_ENDPOINT" >"$TMP/introspect.json"
python3 -m json.tool <"$TMP/introspect.json"
jq_py "assert d['active'] is True and d['client_id']=='$GLEWLWYD_CLIENT_ID' and d['scope']=='$GLEWLWYD_SCOPE'" <"$TMP/introspect.json"

show "# Bearer-authenticated introspection: a token of $GLEWLWYD_INTROSPECT_CLIENT_ID with scope introspect"
RT=$(curl -sf -u "$GLEWLWYD_INTROSPECT_CLIENT_ID:$GLEWLWYD_INTROSPECT_CLIENT_SECRET" -d grant_type=client_credentials \
  -d scope=introspect "$GLEWLWYD_TOKEN_ENDPOINT" | jq_py 'print(d["access_token"])')
echo "\$ curl -s -H \"Authorization: Bearer \$RT\" -d token=\$AT $GLEWLWYD_INTROSPECTION_ENDPOINT"
curl -sf -H "Authorization: Bearer $RT" --data-urlencode "token=$AT" "$GLEWLWYD_INTROSPECTION_ENDPOINT"; echo

show "curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer \$AT' -d token=\$AT $GLEWLWYD_INTROSPECTION_ENDPOINT   # token without the introspect scope"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $AT" --data-urlencode "token=$AT" "$GLEWLWYD_INTROSPECTION_ENDPOINT")
echo "$code"; [ "$code" = 401 ]

show "curl -s -w '%{http_code}' -u $GLEWLWYD_CLIENT_ID:$GLEWLWYD_CLIENT_SECRET -d token=\$AT $GLEWLWYD_REVOCATION_ENDPOINT   # RFC 7009"
curl -s -w '%{http_code}\n' -u "$GLEWLWYD_CLIENT_ID:$GLEWLWYD_CLIENT_SECRET" --data-urlencode "token=$AT" "$GLEWLWYD_REVOCATION_ENDPOINT"
show "# introspection after revocation"
curl -sf -u "$GLEWLWYD_INTROSPECT_CLIENT_ID:$GLEWLWYD_INTROSPECT_CLIENT_SECRET" --data-urlencode "token=$AT" \
  "$GLEWLWYD_INTROSPECTION_ENDPOINT" | tee "$TMP/revoked.json"; echo
jq_py "assert d=={'active': False}" <"$TMP/revoked.json"

echo; echo "smoke: all checks passed"

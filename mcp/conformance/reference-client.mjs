// A minimal MCP client for the suite's auth/client-credentials-basic and
// auth/client-credentials-jwt scenarios. It only proves run.sh: if it passes,
// the harness installs and runs the suite right. Plain Node >= 20, no deps.
//
//   node reference-client.mjs <mcp url>   (env MCP_CONFORMANCE_CONTEXT)
import crypto from "node:crypto";

const url = process.argv.at(-1);
const ctx = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? "{}");
const ACCEPT = "application/json, text/event-stream";
const fail = (message) => {
  console.error(`reference-client: ${message}`);
  process.exit(1);
};
const getJson = async (u) => {
  const r = await fetch(u, { headers: { accept: "application/json" } });
  if (!r.ok) fail(`GET ${u}: HTTP ${r.status}`);
  return r.json();
};
const b64url = (x) => Buffer.from(x).toString("base64url");

// 1. Discovery: the 401's resource_metadata, the PRM, the AS metadata (RFC 9728, RFC 8414).
const init = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-11-25",
    capabilities: {},
    clientInfo: { name: "bearer-guard-reference-client", version: "0.0.0" },
  },
};
const challenge = await fetch(url, {
  method: "POST",
  headers: { "content-type": "application/json", accept: ACCEPT },
  body: JSON.stringify(init),
});
if (challenge.status !== 401) fail(`initialize without a token: HTTP ${challenge.status}, not 401`);
const prmUrl = /resource_metadata="([^"]+)"/.exec(challenge.headers.get("www-authenticate") ?? "")?.[1];
if (!prmUrl) fail(`no resource_metadata in WWW-Authenticate`);
const prm = await getJson(prmUrl);
if (prm.resource !== url) fail(`PRM resource ${prm.resource} is not ${url}`);
const issuer = prm.authorization_servers?.[0] ?? fail("PRM names no authorization server");
const issuerUrl = new URL(issuer);
const asMeta = await getJson(
  new URL(`/.well-known/oauth-authorization-server${issuerUrl.pathname.replace(/\/$/, "")}`, issuerUrl),
);
if (asMeta.issuer !== issuer) fail(`AS metadata issuer ${asMeta.issuer} is not ${issuer}`);

// 2. The token: client_credentials, client_secret_basic or private_key_jwt (RFC 7523).
const form = new URLSearchParams({ grant_type: "client_credentials", resource: url });
const headers = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
const method = ctx.private_key_pem ? "private_key_jwt" : "client_secret_basic";
if (!asMeta.token_endpoint_auth_methods_supported?.includes(method)) fail(`the AS does not offer ${method}`);
if (method === "client_secret_basic") {
  const pair = `${encodeURIComponent(ctx.client_id)}:${encodeURIComponent(ctx.client_secret)}`;
  headers.authorization = `Basic ${Buffer.from(pair).toString("base64")}`;
} else {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: ctx.client_id,
    sub: ctx.client_id,
    aud: asMeta.issuer,
    iat: now,
    exp: now + 60,
    jti: crypto.randomUUID(),
  };
  const input = `${b64url(JSON.stringify({ alg: "ES256", typ: "JWT" }))}.${b64url(JSON.stringify(claims))}`;
  // JWS ES256 is r||s (64 bytes), not DER.
  const sig = crypto.sign("sha256", Buffer.from(input), { key: ctx.private_key_pem, dsaEncoding: "ieee-p1363" });
  form.set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  form.set("client_assertion", `${input}.${b64url(sig)}`);
}
const tokenRes = await fetch(asMeta.token_endpoint, { method: "POST", headers, body: form });
if (!tokenRes.ok) fail(`token endpoint: HTTP ${tokenRes.status} ${await tokenRes.text()}`);
const { access_token: token, token_type: tokenType } = await tokenRes.json();
if (!token || tokenType?.toLowerCase() !== "bearer") fail(`no bearer token from the AS`);

// 3. MCP with the token: JSON or SSE answers, session id and protocol version headers if any.
let session;
let protocolVersion;
let nextId = 1;
async function readSse(body, id) {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, ""))
        .join("\n");
      if (!data) continue; // a priming or keep-alive event
      const message = JSON.parse(data);
      if (message.id === id && ("result" in message || "error" in message)) return message;
    }
  }
  fail(`the SSE stream ended without the answer to request ${id}`);
}
async function send(method, params, { notification = false } = {}) {
  const message = { jsonrpc: "2.0", method, ...(params && { params }) };
  if (!notification) message.id = ++nextId;
  const h = { "content-type": "application/json", accept: ACCEPT, authorization: `Bearer ${token}` };
  if (session) h["mcp-session-id"] = session;
  if (protocolVersion) h["mcp-protocol-version"] = protocolVersion;
  const r = await fetch(url, { method: "POST", headers: h, body: JSON.stringify(message) });
  session = r.headers.get("mcp-session-id") ?? session;
  if (!r.ok) fail(`${method}: HTTP ${r.status} ${await r.text()}`);
  if (notification) return void (await r.body?.cancel());
  const answer = (r.headers.get("content-type") ?? "").startsWith("text/event-stream")
    ? await readSse(r.body, message.id)
    : await r.json();
  if (answer.error) fail(`${method}: ${JSON.stringify(answer.error)}`);
  return answer.result;
}

const initialized = await send("initialize", init.params);
protocolVersion = initialized.protocolVersion;
await send("notifications/initialized", undefined, { notification: true });
const { tools } = await send("tools/list", {});
if (!tools.some((t) => t.name === "test-tool")) fail(`no test-tool in ${JSON.stringify(tools)}`);
const called = await send("tools/call", { name: "test-tool", arguments: {} });
console.log(`reference-client: ${method}, protocol ${protocolVersion}, test-tool said ${JSON.stringify(called.content)}`);
process.exit(0);

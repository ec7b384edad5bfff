// Interop test harness: a real, certified OpenID provider (oidc-provider) on
// 127.0.0.1, for bearer-guard's tests/interop.rs.
//
// Prints `ISSUER http://127.0.0.1:PORT` once it accepts connections.
//
// Test-only admin routes (not part of oidc-provider):
//   POST /admin/rotate                  new signing key (published first), the
//                                       old one still published; the token
//                                       store survives
//   POST /admin/jwks/{ok,fail,hang}     how GET /jwks answers
//   POST /admin/introspection/{ok,fail,hang}
//
// Clients:
//   web-app       / web-secret    authorization_code + refresh_token, for the
//                                 login tests (redirect http://127.0.0.1/cb;
//                                 the harness logs alice in and consents)
//   order-service / order-secret  client_credentials (client_secret_basic)
//   payments-rs   / rs-secret     the resource server, for introspection
//   order-service-jwt             client_credentials (private_key_jwt, the
//                                 ES256 key in client-key.pem: a test key)
// Resources (RFC 8707):
//   https://rs.example.test/jwt     JWT access tokens (the default resource)
//   https://rs.example.test/opaque  opaque access tokens
//   any other absolute URI          JWT access tokens for it (the MCP
//                                   server of mcp/tests: its URL on
//                                   127.0.0.1, known only once it runs)
// Scopes, for every resource: charge:customer orders:read (tests/interop.rs),
// payments:read payments:write (the MCP example's tools).

import { createServer } from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

export const JWT_RESOURCE = 'https://rs.example.test/jwt';
export const OPAQUE_RESOURCE = 'https://rs.example.test/opaque';

// One store for every provider instance, so tokens survive a key rotation.
const store = new Map();

class MemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : undefined;
    store.set(this.key(id), { payload, expiresAt });
  }

  async find(id) {
    const entry = store.get(this.key(id));
    if (!entry) return undefined;
    if (entry.expiresAt && entry.expiresAt < Date.now()) {
      store.delete(this.key(id));
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid) {
    for (const [key, entry] of store) {
      if (key.startsWith(`${this.model}:`) && entry.payload.uid === uid) return entry.payload;
    }
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [key, entry] of store) {
      if (key.startsWith(`${this.model}:`) && entry.payload.userCode === userCode) return entry.payload;
    }
    return undefined;
  }

  async consume(id) {
    const entry = store.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const [key, entry] of store) {
      if (entry.payload.grantId === grantId) store.delete(key);
    }
  }
}

function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

const keys = [newKey()];
const modes = { jwks: 'ok', introspection: 'ok' };

function configuration() {
  return {
    adapter: MemoryAdapter,
    jwks: { keys },
    clients: [
      {
        client_id: 'order-service',
        client_secret: 'order-secret',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: 'web-app',
        client_secret: 'web-secret',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: ['http://127.0.0.1/cb'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: 'order-service-jwt',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: {
          keys: [{
            kty: 'EC',
            crv: 'P-256',
            x: 'xIhf1t7btMnl036UrdqQ3BsYuWOUVTI3frKDWWpvZm0',
            y: 'jVqgmiHwohz4i_WQtnAzFOst3TOO_mwZtWLn9drchhg',
          }],
        },
      },
      {
        client_id: 'payments-rs',
        client_secret: 'rs-secret',
        grant_types: [],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    features: {
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      dPoP: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => JWT_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resourceIndicator) => ({
          scope: 'charge:customer orders:read payments:read payments:write',
          audience: resourceIndicator,
          accessTokenTTL: 300,
          accessTokenFormat: resourceIndicator === OPAQUE_RESOURCE ? 'opaque' : 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    cookies: { keys: ['interop-test-cookie-key'] },
    // Every refresh rotates the refresh token (RFC 9700 §4.14.2).
    rotateRefreshToken: () => true,
    findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
  };
}

const server = createServer((req, res) => handle(req, res));
let provider;

function handle(req, res) {
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'POST' && url.pathname.startsWith('/admin/')) {
    const [, , what, mode] = url.pathname.split('/');
    if (what === 'rotate') {
      keys.unshift(newKey());
      provider = new Provider(provider.issuer, configuration());
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kid: keys[0].kid }));
      return;
    }
    if ((what === 'jwks' || what === 'introspection') && ['ok', 'fail', 'hang'].includes(mode)) {
      modes[what] = mode;
      res.writeHead(204);
      res.end();
      return;
    }
    res.writeHead(404);
    res.end();
    return;
  }
  // The login and consent pages: the test's user, alice, logs in and
  // consents to what is asked, at once.
  if (req.method === 'GET' && url.pathname.startsWith('/interaction/')) {
    (async () => {
      const details = await provider.interactionDetails(req, res);
      const { prompt, params } = details;
      let result;
      if (prompt.name === 'login') {
        result = { login: { accountId: 'alice' } };
      } else {
        const grant = details.grantId
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
        const missing = prompt.details;
        if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
        if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
        for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
          grant.addResourceScope(indicator, scopes.join(' '));
        }
        result = { consent: { grantId: await grant.save() } };
      }
      await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
    })().catch((e) => {
      res.writeHead(500);
      res.end(String(e));
    });
    return;
  }
  const mode = url.pathname === '/jwks' ? modes.jwks
    : url.pathname === '/token/introspection' ? modes.introspection
    : 'ok';
  if (mode === 'fail') {
    res.writeHead(500);
    res.end();
    return;
  }
  if (mode === 'hang') {
    return; // never answer
  }
  provider.callback()(req, res);
}

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  provider = new Provider(`http://127.0.0.1:${port}`, configuration());
  process.stdout.write(`ISSUER http://127.0.0.1:${port}\n`);
});

// Stop with the test that started it.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

// node-oidc-provider 9 as a load-test peer of Portcullis (bench/peers, issue 5).
//
//   node server.mjs                      # one process, the library's in-memory adapter
//   WORKERS=2 node server.mjs            # node:cluster, 2 workers; tokens kept in the
//                                        # primary (the library's MemoryAdapter), reached
//                                        # by the workers over the cluster IPC channel
//   WORKERS=2 STORE=local node server.mjs  # 2 workers, each with its own in-memory
//                                        # adapter: a token is known only to the worker
//                                        # that issued it (introspection is then wrong)
//
// Environment: HOST (127.0.0.1), PORT (3000), CLIENT_ID, CLIENT_SECRET, WORKERS (1),
// STORE (shared | local; only with WORKERS > 1). Prints "listening on URL" per worker.
//
// Endpoints: POST /token (client_credentials, client_secret_basic) and
// POST /token/introspection (client_secret_basic), the library's default routes.
import cluster from 'node:cluster';
import process from 'node:process';

import Provider, { errors } from 'oidc-provider';
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';

const HOST = process.env.HOST ?? '127.0.0.1';
const PORT = Number.parseInt(process.env.PORT ?? '3000', 10);
const CLIENT_ID = process.env.CLIENT_ID ?? 'bench-client';
const CLIENT_SECRET = process.env.CLIENT_SECRET ?? 'bench-secret-0123456789abcdef';
const WORKERS = Number.parseInt(process.env.WORKERS ?? '1', 10);
const STORE = process.env.STORE ?? 'shared';

if (!['127.0.0.1', '::1', 'localhost'].includes(HOST)) {
  throw new Error(`HOST must be a loopback address, not ${HOST}`);
}
if (!['shared', 'local'].includes(STORE)) {
  throw new Error(`STORE must be shared or local, not ${STORE}`);
}

// The resource server that client_credentials tokens are for. oidc-provider (v7 and
// later) scopes client_credentials tokens to a resource server through Resource
// Indicators (RFC 8707); defaultResource applies it when the request names none, so
// `grant_type=client_credentials` alone (what the harness sends) gets an opaque,
// audience-bound access token.
const RESOURCE = 'urn:portcullis-bench:api';

function configuration(adapter) {
  return {
    ...(adapter ? { adapter } : {}),
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // A client may introspect only its own tokens (the default lets any
        // authenticated confidential client introspect any token).
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? RESOURCE,
        getResourceServerInfo: async (_ctx, resourceIndicator) => {
          if (resourceIndicator !== RESOURCE) throw new errors.InvalidTarget();
          return {
            scope: 'api',
            audience: RESOURCE,
            accessTokenFormat: 'opaque',
            accessTokenTTL: 3600,
          };
        },
      },
    },
  };
}

// --- the shared store of cluster mode: the primary holds the tokens --------------

const STORE_MESSAGE = 'oidc-provider-store';

function servePrimaryStore() {
  const adapters = new Map();
  const adapterFor = createMemoryAdapter(0);
  const model = (name) => {
    let adapter = adapters.get(name);
    if (!adapter) {
      adapter = adapterFor(name);
      adapters.set(name, adapter);
    }
    return adapter;
  };
  cluster.on('message', async (worker, message) => {
    if (message?.type !== STORE_MESSAGE) return;
    const { id, model: name, method, args } = message;
    try {
      const result = await model(name)[method](...args);
      worker.send({ type: STORE_MESSAGE, id, result });
    } catch (error) {
      worker.send({ type: STORE_MESSAGE, id, error: String(error) });
    }
  });
}

// A worker-side adapter whose every call is answered by the primary's MemoryAdapter.
function ipcAdapterClass() {
  const pending = new Map();
  let next = 0;
  process.on('message', (message) => {
    if (message?.type !== STORE_MESSAGE) return;
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(message.error));
    else waiter.resolve(message.result);
  });
  const call = (model, method, args) => new Promise((resolve, reject) => {
    next += 1;
    const id = next;
    pending.set(id, { resolve, reject });
    process.send({
      type: STORE_MESSAGE, id, model, method, args,
    });
  });
  return class IpcAdapter {
    constructor(model) { this.model = model; }

    upsert(id, payload, expiresIn) { return call(this.model, 'upsert', [id, payload, expiresIn]); }

    find(id) { return call(this.model, 'find', [id]); }

    findByUserCode(userCode) { return call(this.model, 'findByUserCode', [userCode]); }

    findByUid(uid) { return call(this.model, 'findByUid', [uid]); }

    consume(id) { return call(this.model, 'consume', [id]); }

    destroy(id) { return call(this.model, 'destroy', [id]); }

    revokeByGrantId(grantId) { return call(this.model, 'revokeByGrantId', [grantId]); }
  };
}

// --- start -----------------------------------------------------------------------

function serve(adapter) {
  const issuer = `http://${HOST.includes(':') ? `[${HOST}]` : HOST}:${PORT}`;
  const provider = new Provider(issuer, configuration(adapter));
  provider.on('server_error', (_ctx, error) => console.error('server_error', error));
  const server = provider.listen(PORT, HOST, () => {
    console.log(`listening on ${issuer} (pid ${process.pid}, oidc-provider ${WORKERS > 1 ? `cluster worker, store ${STORE}` : 'single process'})`);
  });
  server.keepAliveTimeout = 75_000;
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (WORKERS > 1 && cluster.isPrimary) {
  if (STORE === 'shared') servePrimaryStore();
  let stopping = false;
  const stopAll = (code) => {
    stopping = true;
    process.exitCode = code;
    for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGTERM');
    setTimeout(() => process.exit(code), 2000).unref();
  };
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      console.error(`worker ${worker.process.pid} exited (${signal ?? code}); stopping`);
      stopAll(1);
    }
  });
  for (let i = 0; i < WORKERS; i += 1) cluster.fork();
  process.on('SIGTERM', () => stopAll(0));
  process.on('SIGINT', () => stopAll(0));
} else if (WORKERS > 1) {
  serve(STORE === 'shared' ? ipcAdapterClass() : undefined);
} else {
  serve(undefined);
}

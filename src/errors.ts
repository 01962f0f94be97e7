/**
 * Every `SY_ERR_*` code switchyard can emit, keyed by the code itself, with the HTTP status a
 * client gets beside it (null for start-up errors, which stop the process instead of answering).
 * A leaf module: it imports nothing from src/, so every layer may take its codes from here.
 * README's "Error codes" table lists the same entries; test/errors-catalog.test.ts keeps the
 * table, this catalog and the codes in src/ in step.
 */

/** One entry of the catalog. */
export interface ErrorEntry {
  /** The HTTP status the code is answered with; null when it ends start-up instead. */
  readonly status: number | null
  /** One line: what happened and what to do about it. */
  readonly summary: string
}

function defineCatalog<const T extends { readonly [K in keyof T]: ErrorEntry }>(catalog: T): T {
  for (const entry of Object.values<ErrorEntry>(catalog)) Object.freeze(entry)
  return Object.freeze(catalog)
}

/** The program's error catalog. */
export const ERRORS = defineCatalog({
  // The data path: answers to proxied requests (src/proxy/errors.ts adds their wording).
  SY_ERR_UPSTREAM_CONNECT: {
    status: 502,
    summary: "The chosen colour's upstream could not be reached (refused, DNS, TLS, connect timeout); check the target and `upstreams.tls`",
  },
  SY_ERR_NO_SERVICE: {
    status: 404,
    summary: "No service's `match` takes the request's host and path, and `proxy.defaultService` is not set; add a match or name a default service",
  },
  SY_ERR_NO_TARGETS: {
    status: 502,
    summary: 'The chosen colour has no targets; give it some in `upstreams.<color>.targets` or with `PUT /v1/upstreams/{color}`',
  },
  SY_ERR_UPSTREAM_TIMEOUT: {
    status: 504,
    summary: 'The upstream sent no response headers within `timeouts.request`; look at the upstream, or raise the timeout',
  },
  SY_ERR_UPSTREAM_IDLE: {
    status: 504,
    summary: 'The upstream went silent inside a response body for longer than `timeouts.idle`; a response already begun is cut instead',
  },
  SY_ERR_UPSTREAM_RESET: {
    status: 502,
    summary:
      'The upstream closed the connection before its response was complete; look at the upstream. On a kept-alive connection with no answer begun, the message says so: the upstream may close idle connections sooner than `timeouts.upstreamKeepAlive`',
  },
  SY_ERR_UPSTREAM_PROTOCOL: {
    status: 502,
    summary: 'The upstream sent something other than valid HTTP/1.1; look at the upstream',
  },
  SY_ERR_UPSTREAM_BUSY: {
    status: 503,
    summary: 'The target already has `limits.maxPending` requests waiting for a connection; retry after `retry-after`',
  },
  SY_ERR_CLIENT_CLOSED: {
    status: 499,
    summary: 'The client went away before its response was complete; nothing to do (counted as status 499, never sent)',
  },
  SY_ERR_CLIENT_STALLED: {
    status: 499,
    summary: 'The client left a response unread for longer than `timeouts.send`: it was cut and cancelled upstream (counted as status 499)',
  },
  SY_ERR_BAD_REQUEST: {
    status: 400,
    summary: 'The request cannot be carried out as sent (an override value that is not a colour, a bad preview ttl, ...); the message says why',
  },
  SY_ERR_MALFORMED_REQUEST: {
    status: 400,
    summary: 'The request is not valid HTTP/1.1 (framing, Host, header bytes); the message names the problem; fix the client',
  },
  SY_ERR_METHOD_NOT_ALLOWED: {
    status: 405,
    summary: 'CONNECT (switchyard is a reverse proxy, not a forward proxy) or TRACE (it would echo cookies back to a script) was sent; the message names which',
  },
  SY_ERR_REQUEST_TIMEOUT: {
    status: 408,
    summary: 'The request headers did not arrive within `timeouts.header`',
  },
  SY_ERR_BODY_TIMEOUT: {
    status: 408,
    summary: 'The request body stalled for longer than `timeouts.body`',
  },
  SY_ERR_BODY_TOO_LARGE: {
    status: 413,
    summary: 'The request body is larger than `limits.maxBodySize`; send less, or raise the limit',
  },
  SY_ERR_HEADERS_TOO_LARGE: {
    status: 431,
    summary: 'The request line and headers are larger than `limits.maxHeaderSize`; send less, or raise the limit',
  },

  // The admin API.
  SY_ERR_HTTP_400: {
    status: 400,
    summary: 'The admin request is invalid (body, params, query, JSON); the message names the field; nothing changed',
  },
  SY_ERR_HTTP_401: {
    status: 401,
    summary: 'A `/v1` admin route was called without the right `Authorization: Bearer <admin.token>`',
  },
  SY_ERR_AUTH_RATE_LIMITED: {
    status: 429,
    summary: 'Too many failed bearer attempts from this address within a minute (`admin.failedAuthLimit`, default 10); wait `retry-after` seconds, fix the token the client sends, or raise the limit',
  },
  SY_ERR_GREEN_UNHEALTHY: {
    status: 409,
    summary: 'Green would take more traffic but none of its targets is healthy; fix green, or send `"force": true`',
  },
  SY_ERR_NO_ROLLOUT: {
    status: 404,
    summary: 'No rollout has been started; `POST /v1/rollout` starts one',
  },
  SY_ERR_SERVICE_REQUIRED: {
    status: 409,
    summary: 'This switchyard fronts several services and none is named `default`; address one as `/v1/services/{name}/...` (CLI: `--service NAME`)',
  },
  SY_ERR_UNKNOWN_SERVICE: {
    status: 404,
    summary: 'No service of that name; `GET /v1/services` lists them',
  },
  SY_ERR_FORBIDDEN_SERVICE: {
    status: 403,
    summary: 'The bearer token is one of `admin.tokens`, scoped to other services; use a token scoped to this one, or `admin.token`',
  },
  SY_ERR_SERVICE_CONFIGURED: {
    status: 409,
    summary: 'Only the stored state of a service removed from the config can be deleted; remove it from `services` and reload first',
  },
  SY_ERR_PREVIEW_OFF: {
    status: 404,
    summary: 'This admin API was started without a preview signer, so `POST /v1/preview` cannot make links',
  },
  SY_ERR_RELOAD_REFUSED: {
    status: 400,
    summary: 'The re-read config file is invalid (`POST /v1/reload`); the message names the key; the running config stays; fix the file and reload again',
  },
  SY_ERR_RELOAD_OFF: {
    status: 409,
    summary: 'This switchyard was started without a config file (programmatically), so `POST /v1/reload` has nothing to re-read; start it with `--config`',
  },

  // The release and its store.
  SY_ERR_GENERATION_CONFLICT: {
    status: 409,
    summary: '`ifGeneration` is no longer the split\'s generation; read the split again and retry',
  },
  SY_ERR_WRITE_CONFLICT: {
    status: 409,
    summary: 'Another replica wrote the shared state during this write; nothing was written; read again and retry',
  },
  SY_ERR_STATE_UNAVAILABLE: {
    status: 503,
    summary: 'The shared state store (Redis) cannot be reached; routing goes on with the last split, changes wait; retry later',
  },
  SY_ERR_ROLLOUT_PLAN: {
    status: 400,
    summary: 'The rollout plan is invalid (steps, weights, interval); the message names the field; nothing started',
  },
  SY_ERR_ROLLOUT_STATE: {
    status: 409,
    summary: 'The rollout is not in a phase that allows this action (one is already running, none to pause, ...); read `GET /v1/rollout`',
  },

  // Start-up: the process stops with the message instead of serving.
  SY_ERR_CONFIG: {
    status: null,
    summary: 'The config file or environment is invalid; the message names the key; fix it (`--check` tests a file)',
  },
  SY_ERR_STATE_FILE: {
    status: null,
    summary: 'The state file exists but cannot be read or trusted; fix it, or move it aside to start from the config\'s split',
  },
})

/** A code of the catalog. */
export type ErrorCode = keyof typeof ERRORS

/** A frozen `{ code: code }` view of some of the catalog's codes, for a layer that names its own. */
export function errorCodes<const C extends ErrorCode>(...codes: readonly C[]): { readonly [K in C]: K } {
  return Object.freeze(Object.fromEntries(codes.map((code) => [code, code]))) as { readonly [K in C]: K }
}

import { readFile } from 'node:fs/promises'
import type { FastifyReply } from 'fastify'
import { packagePath } from '../../package-root.js'
import type { AdminApp } from '../server.js'

/** The dashboard's files: `dashboard/` at the package root. */
export const DASHBOARD_DIR = packagePath('dashboard/')

/**
 * Nothing but this origin: no inline script or style, no other host, no framing. The page
 * draws its charts as SVG through the DOM, which needs no exception.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
}

/** A file name the dashboard may serve: flat, lower case, one of the types above. */
const ASSET = /^[a-z][a-z0-9-]*\.(js|css|svg)$/

/** Headers of every dashboard answer, found or not. */
function guarded(reply: FastifyReply): FastifyReply {
  return reply
    .header('cache-control', 'no-store')
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
}

async function serve(reply: FastifyReply, name: string): Promise<FastifyReply> {
  guarded(reply)
  let body: Buffer
  try {
    body = await readFile(DASHBOARD_DIR + name)
  } catch {
    // No file system path in the answer: whoever asks needs no token.
    return reply.code(404).type('text/plain; charset=utf-8').send(`no dashboard file ${name}: the dashboard/ folder is not installed with this switchyard\n`)
  }
  return reply.type(TYPES[name.slice(name.lastIndexOf('.') + 1)]!).send(body)
}

/**
 * GET / (the dashboard) and GET /ui/:file (its scripts, styles and icon): static files shipped
 * in the package, served without the token (they hold no data; every call they make sends it).
 * Read at each request and never cached: a page from before an upgrade must not talk to the
 * new API.
 *
 * Left out of the OpenAPI document (`hide`): they are a page for people, not part of the API a
 * client programs against; the README's "Dashboard" section describes them.
 */
export function dashboardRoutes(app: AdminApp): void {
  app.get('/', { schema: { hide: true } }, async (_request, reply) => serve(reply, 'index.html'))
  app.get<{ Params: { file: string } }>('/ui/:file', { schema: { hide: true } }, async (request, reply) => {
    const { file } = request.params
    if (!ASSET.test(file)) return guarded(reply).code(404).type('text/plain; charset=utf-8').send('not found\n')
    return serve(reply, file)
  })
}

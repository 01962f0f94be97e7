import type { FastifyInstance } from 'fastify'
import { DOCS_PAGE } from './docs-page.js'

/**
 * GET /openapi.json and GET /docs: documentation, served without the token (they hold no
 * secrets) and left out of the document they serve.
 */
export async function docsRoutes(app: FastifyInstance): Promise<void> {
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  app.get('/docs', { schema: { hide: true } }, async (_request, reply) => {
    void reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache')
    return DOCS_PAGE
  })
}

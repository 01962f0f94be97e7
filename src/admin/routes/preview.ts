import { parseDuration } from '../../config/duration.js'
import { PREVIEW_PATH, type PreviewSigner } from '../../routing/preview.js'
import { httpError } from '../http-errors.js'
import { PreviewBody } from '../schemas.js'
import type { AdminApp } from '../server.js'

/** Signs preview links; `baseUrl` is where testers reach the proxy. */
export interface PreviewLinks {
  readonly signer: PreviewSigner
  readonly baseUrl: () => string
}

/** POST /v1/preview: a signed, expiring link that shows a tester one colour in any browser (the proxy sets a cookie). */
export function previewRoutes(app: AdminApp, preview: PreviewLinks | undefined): void {
  app.post('/v1/preview', { schema: { body: PreviewBody } }, async (request, reply) => {
    if (preview === undefined) throw httpError('SY_ERR_PREVIEW_OFF', 'preview links are off')
    const ttl = parseDuration(request.body.ttl ?? '1h')
    if (ttl === undefined || ttl < 1000 || ttl > 7 * 86_400_000) {
      throw httpError('SY_ERR_BAD_REQUEST', 'ttl must be a duration from 1s to 7d, such as 30m or 1h')
    }
    const expiresAt = Date.now() + ttl
    const token = preview.signer.sign(request.body.color, expiresAt)
    const path = `${PREVIEW_PATH}?token=${encodeURIComponent(token)}`
    void reply.code(201)
    return { color: request.body.color, expiresAt: new Date(Math.floor(expiresAt / 1000) * 1000).toISOString(), path, url: `${preview.baseUrl()}${path}` }
  })
}

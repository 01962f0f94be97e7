import http from 'node:http'

/** One request on a fresh connection (no keep-alive pool), so that any worker may take it. */
export function freshGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; color: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { ...headers, connection: 'close' } }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, color: res.headers['x-switchyard-color'] as string | undefined, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

// Micro-benchmark of the per-request routing work: sticky key extraction + colour choice.
// Run with `npm run bench:micro`. Numbers are for comparison between commits, not assertions.
import { bench, describe } from 'vitest'
import { Router } from '../src/routing/router.js'
import { bucketOf } from '../src/routing/hash.js'
import { makeTable } from '../src/routing/types.js'
import { ServiceMatcher } from '../src/routing/services.js'

const table = makeTable(7, 1000)
/** The same split with 10 % of blue's requests mirrored: one more hash for a blue request. */
const mirrored = makeTable(7, 1000, '', 1000)
const router = new Router({
  keys: ['cookie:session', 'header:x-user-id', 'ip'],
  cookie: 'sy_sid',
  cookieMaxAgeSeconds: 86_400,
  overrideHeader: 'x-switchyard-color',
})
const headerOnly = Array.from({ length: 1024 }, (_, i) => ({ host: 'example.com', accept: '*/*', 'x-user-id': `user-${i}` }))
const withCookie = Array.from({ length: 1024 }, (_, i) => ({
  host: 'example.com',
  cookie: `_ga=GA1.2.3.4; theme=dark; session=s-${i}-abcdef0123456789; other=1`,
}))
const keyless = Array.from({ length: 1024 }, () => ({ host: 'example.com' }))
const override = { host: 'example.com', 'x-switchyard-color': 'green' }

const services = new ServiceMatcher(
  Array.from({ length: 50 }, (_, n) => ({ name: `s${n}`, match: { hosts: [`s${n}.example.com`], pathPrefixes: ['/api', '/static'] }, service: n })),
)
const hosts = Array.from({ length: 64 }, (_, n) => `s${n}.example.com`)

let i = 0
describe('route one request', () => {
  bench('header key', () => {
    router.route(table, headerOnly[i++ & 1023]!, '10.0.0.1')
  })
  bench('header key, 10 % mirrored', () => {
    router.route(mirrored, headerOnly[i++ & 1023]!, '10.0.0.1')
  })
  bench('cookie key among four cookies', () => {
    router.route(table, withCookie[i++ & 1023]!, '10.0.0.1')
  })
  bench('ip fallback (no cookie, no header)', () => {
    router.route(table, keyless[i++ & 1023]!, `10.0.${i & 255}.1`)
  })
  bench('override header', () => {
    router.route(table, override, '10.0.0.1')
  })
  bench('service match among 50 host-named services (#15)', () => {
    services.match(hosts[i++ & 63], '/api/v1/users/42')
  })
  bench('hash only (bucketOf)', () => {
    bucketOf(`user-${i++ & 1023}`)
  })
})

import { errors } from 'undici'
import { describe, expect, it } from 'vitest'
import { describeError, ERRORS, ProxyError, toProxyError, type ErrorCode } from '../../src/proxy/errors.js'

function systemError(code: string, message = `connect ${code} 127.0.0.1:1`): Error {
  return Object.assign(new Error(message), { code })
}

// undici's runtime constructor takes (message, code); its typings only declare (message).
const ParserError = errors.HTTPParserError as unknown as new (message: string, code?: string) => Error
function parserError(message: string, code?: string): Error {
  return new ParserError(message, code)
}

describe('error catalog', () => {
  it('keys every entry by its own code, all SY_ERR_*, frozen', () => {
    expect(Object.isFrozen(ERRORS)).toBe(true)
    for (const [key, spec] of Object.entries(ERRORS)) {
      expect(spec.code).toBe(key)
      expect(key).toMatch(/^SY_ERR_[A-Z_]+$/)
      expect(Object.isFrozen(spec)).toBe(true)
      expect(spec.message.length).toBeGreaterThan(0)
    }
  })

  it('serializes to Fastify’s error shape plus code', () => {
    expect(JSON.parse(JSON.stringify(new ProxyError('SY_ERR_UPSTREAM_TIMEOUT')))).toEqual({
      statusCode: 504,
      error: 'Gateway Timeout',
      message: 'The upstream sent no response headers in time',
      code: 'SY_ERR_UPSTREAM_TIMEOUT',
    })
  })
})

describe('toProxyError', () => {
  const cases: Array<[string, unknown, ErrorCode, number, string | undefined]> = [
    ['connection refused', systemError('ECONNREFUSED'), 'SY_ERR_UPSTREAM_CONNECT', 502, 'connect'],
    ['DNS failure', systemError('ENOTFOUND', 'getaddrinfo ENOTFOUND nowhere.invalid'), 'SY_ERR_UPSTREAM_CONNECT', 502, 'connect'],
    ['connect timeout', new errors.ConnectTimeoutError(), 'SY_ERR_UPSTREAM_CONNECT', 502, 'connect'],
    [
      'happy-eyeballs aggregate',
      Object.assign(new AggregateError([systemError('ECONNREFUSED')], ''), {}),
      'SY_ERR_UPSTREAM_CONNECT',
      502,
      'connect',
    ],
    ['headers timeout', new errors.HeadersTimeoutError(), 'SY_ERR_UPSTREAM_TIMEOUT', 504, 'timeout'],
    ['body timeout', new errors.BodyTimeoutError(), 'SY_ERR_UPSTREAM_IDLE', 504, 'idle'],
    ['socket closed', new errors.SocketError('other side closed'), 'SY_ERR_UPSTREAM_RESET', 502, 'reset'],
    ['connection reset', systemError('ECONNRESET', 'read ECONNRESET'), 'SY_ERR_UPSTREAM_RESET', 502, 'reset'],
    ['parser error', parserError('Expected HTTP/', 'INVALID_CONSTANT'), 'SY_ERR_UPSTREAM_PROTOCOL', 502, 'protocol'],
    ['parser error without code', parserError('bad'), 'SY_ERR_UPSTREAM_PROTOCOL', 502, 'protocol'],
    ['length mismatch', new errors.ResponseContentLengthMismatchError(), 'SY_ERR_UPSTREAM_PROTOCOL', 502, 'protocol'],
    ['request aborted', new errors.RequestAbortedError(), 'SY_ERR_CLIENT_CLOSED', 499, 'client'],
    ['invalid argument', new errors.InvalidArgumentError('invalid header'), 'SY_ERR_BAD_REQUEST', 400, undefined],
    ['something unknown', new Error('boom'), 'SY_ERR_UPSTREAM_RESET', 502, 'reset'],
  ]

  it.each(cases)('maps %s', (_name, input, code, statusCode, kind) => {
    const mapped = toProxyError(input)
    expect(mapped).toBeInstanceOf(ProxyError)
    expect(mapped).toMatchObject({ code, statusCode, kind })
    expect(mapped.cause).toBe(input)
  })

  it('passes a ProxyError through unchanged', () => {
    const error = new ProxyError('SY_ERR_NO_TARGETS')
    expect(toProxyError(error)).toBe(error)
  })

  it('describes the original error for target health', () => {
    expect(describeError(toProxyError(systemError('ECONNREFUSED')))).toBe('connect ECONNREFUSED 127.0.0.1:1')
    expect(describeError(toProxyError(new errors.HeadersTimeoutError()))).toBe('UND_ERR_HEADERS_TIMEOUT: Headers Timeout Error')
    expect(describeError(toProxyError(new AggregateError([systemError('ECONNREFUSED')], '')))).toBe('ECONNREFUSED')
  })
})

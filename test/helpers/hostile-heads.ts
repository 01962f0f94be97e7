/**
 * The hostile heads that the proxy refuses by their head alone (framing, header bytes, Host,
 * version, method, size): [name, bytes, status]. test/proxy/hostile-http.test.ts sends them to
 * a running proxy; test/proxy/raw/http1-cases.test.ts gives them to the socket engine's parser.
 */

/** The Host line every row but the Host cases carries. */
export const HOST_LINE = 'Host: switchyard.test\r\n'
const H = HOST_LINE

export const HOSTILE_HEADS: ReadonlyArray<readonly [string, string, number]> = [
  ['Content-Length with Transfer-Encoding', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['Transfer-Encoding with Content-Length', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`, 400],
  ['two different Content-Lengths', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, 400],
  ['two equal Content-Lengths', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`, 400],
  ['a negative Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, 400],
  ['a signed Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`, 400],
  ['a Transfer-Encoding other than chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\nhello`, 400],
  ['a coding before chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, 400],
  ['an obs-fold header line', `GET / HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n`, 400],
  ['NUL in a header value', `GET / HTTP/1.1\r\n${H}X-A: a\u0000b\r\n\r\n`, 400],
  ['a bare CR in a header value', `GET / HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`, 400],
  ['a bare LF in a header value', `GET / HTTP/1.1\r\n${H}X-A: a\nX-B: c\r\n\r\n`, 400],
  ['whitespace before a header colon', `GET / HTTP/1.1\r\n${H}X-A : b\r\n\r\n`, 400],
  ['two Host headers', `GET / HTTP/1.1\r\n${H}Host: other.test\r\n\r\n`, 400],
  ['no Host header in HTTP/1.1', 'GET / HTTP/1.1\r\n\r\n', 400],
  ['an unknown HTTP version', `GET / HTTP/9.9\r\n${H}\r\n`, 400],
  ['an unknown method', `FOO / HTTP/1.1\r\n${H}\r\n`, 400],
  ['oversized headers', `GET / HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(10_000)}\r\n\r\n`, 431],
]

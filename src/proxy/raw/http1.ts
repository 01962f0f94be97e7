/**
 * Strict HTTP/1.1 framing (RFC 9112) for the raw-socket data path: pure parsing, no I/O.
 * At least as strict as node's llhttp (insecureHTTPParser off), and stricter where framing
 * could be read two ways: such heads and bodies are refused, never guessed.
 */
export { Framing, isHeadError } from './head-types.js'
export type { HeadError, RequestHead, ResponseHead } from './head-types.js'
export { parseRequestHead } from './request-head.js'
export { parseResponseHead } from './response-head.js'
export { ChunkedFraming, MAX_CHUNK_EXTENSIONS } from './chunked.js'

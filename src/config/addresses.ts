/** Checks of the URLs and hosts a config names, and the redaction of URLs for messages. */
import { isIP } from 'node:net'
import { ConfigError } from './config-error.js'

/** A URL with its password replaced by ***, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@')
  }
}

/** Parses an http(s) URL or throws a ConfigError naming `key`. */
export function httpUrl(key: string, value: string): URL {
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {
    url = undefined
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ConfigError(`${key} must be an http:// or https:// URL, got "${value}"`)
  }
  return url
}

/** Throws a ConfigError naming `key` unless `target` is a bare http(s) origin. */
export function checkTarget(key: string, target: string): void {
  const url = httpUrl(key, target)
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '') {
    throw new ConfigError(`${key} must be an origin without path, query or credentials, got "${target}"`)
  }
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1' || host === '[::1]') return true
  return isIP(host) === 4 && host.startsWith('127.')
}

/**
 * Which service a request belongs to when one switchyard fronts several: by Host first (exact
 * names, then `*.example.com` wildcards from the most specific suffix, then services that
 * match any host), then by the longest path prefix on segment boundaries within that host.
 * A host whose services match none of the path's prefixes falls through to the next, less
 * specific host; nothing at all gives the default service, or undefined (the proxy's 404).
 * Compiled once per config; `match` walks the host's labels and the path's segments once:
 * O(host + path length), never a scan of the services.
 */

/** How a service is told apart: empty `hosts` is any host, empty `pathPrefixes` every path. */
export interface ServiceMatch {
  readonly hosts: readonly string[]
  readonly pathPrefixes: readonly string[]
}

/** A path prefix tree: one node per segment, with the service of the prefix that ends there. */
interface Node<S> {
  readonly children: Map<string, Node<S>>
  service: S | undefined
  /** The name the service was configured under, to name both sides of a clash. */
  owner: string | undefined
}

const node = <S>(): Node<S> => ({ children: new Map(), service: undefined, owner: undefined })

/** A config mistake in the match rules: the message names the service and the rule. */
export class ServiceMatchError extends Error {}

/** `Example.COM.:8080` -> `example.com`; `[::1]:80` -> `[::1]`; undefined when there is nothing left. */
export function normalizeHost(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined
  let host = raw.trim().toLowerCase()
  if (host.startsWith('[')) {
    const end = host.indexOf(']')
    host = end < 0 ? host : host.slice(0, end + 1)
  } else {
    const colon = host.indexOf(':')
    if (colon >= 0) host = host.slice(0, colon)
  }
  if (host.endsWith('.')) host = host.slice(0, -1)
  return host === '' ? undefined : host
}

/** The segments of a configured prefix: `/api/v1/` -> ['api', 'v1']; `/` -> []. Throws on one that is not a path. */
function prefixSegments(prefix: string): string[] {
  if (!prefix.startsWith('/')) throw new ServiceMatchError(`"${prefix}" must start with "/"`)
  if (/[?#\s]/.test(prefix)) throw new ServiceMatchError(`"${prefix}" must be a path alone (no query, fragment or spaces)`)
  return prefix.split('/').filter((s) => s !== '')
}

/** A configured host: an exact name, or `*.` and a suffix; throws on anything else. */
function parseHost(host: string): { wildcard: boolean; name: string } {
  const lower = host.trim().toLowerCase()
  const wildcard = lower.startsWith('*.')
  const name = wildcard ? lower.slice(2) : lower
  if (name === '' || name.includes('*') || !/^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)$/.test(name)) {
    throw new ServiceMatchError(`"${host}" is not a host name or a "*.example.com" wildcard`)
  }
  return { wildcard, name }
}

export class ServiceMatcher<S> {
  readonly #exact = new Map<string, Node<S>>()
  /** Keyed by the suffix after `*.`. */
  readonly #wildcard = new Map<string, Node<S>>()
  /** Services that match any host; null when none does. */
  #anyHost: Node<S> | null = null
  readonly #fallback: S | undefined

  /** Throws ServiceMatchError naming the service when a rule is malformed or two services claim the same host and prefix. */
  constructor(services: readonly { readonly name: string; readonly match: ServiceMatch; readonly service: S }[], fallback?: S) {
    this.#fallback = fallback
    for (const { name, match, service } of services) {
      const prefixes = match.pathPrefixes.length === 0 ? ['/'] : match.pathPrefixes
      const roots: Node<S>[] = []
      try {
        if (match.hosts.length === 0) roots.push((this.#anyHost ??= node()))
        for (const raw of match.hosts) {
          const { wildcard, name: host } = parseHost(raw)
          const table = wildcard ? this.#wildcard : this.#exact
          let root = table.get(host)
          if (root === undefined) table.set(host, (root = node()))
          roots.push(root)
        }
        for (const root of roots) for (const prefix of prefixes) this.#add(root, prefixSegments(prefix), name, service, prefix)
      } catch (err) {
        if (err instanceof ServiceMatchError) throw new ServiceMatchError(`services.${name}.match: ${err.message}`)
        throw err
      }
    }
  }

  /** The service of a request: its Host header and its target (path and query). */
  match(hostHeader: string | undefined, target: string): S | undefined {
    const host = normalizeHost(hostHeader)
    if (host !== undefined) {
      const exact = this.#exact.get(host)
      if (exact !== undefined) {
        const found = longest(exact, target)
        if (found !== undefined) return found
      }
      if (this.#wildcard.size > 0) {
        // a.b.example.com tries *.b.example.com, then *.example.com, then *.com.
        for (let dot = host.indexOf('.'); dot >= 0; dot = host.indexOf('.', dot + 1)) {
          const root = this.#wildcard.get(host.slice(dot + 1))
          if (root === undefined) continue
          const found = longest(root, target)
          if (found !== undefined) return found
        }
      }
    }
    if (this.#anyHost !== null) {
      const found = longest(this.#anyHost, target)
      if (found !== undefined) return found
    }
    return this.#fallback
  }

  #add(root: Node<S>, segments: readonly string[], name: string, service: S, prefix: string): void {
    let at = root
    for (const segment of segments) {
      let next = at.children.get(segment)
      if (next === undefined) at.children.set(segment, (next = node()))
      at = next
    }
    if (at.owner !== undefined && at.owner !== name) throw new ServiceMatchError(`path prefix "${prefix}" on this host is also services.${at.owner}'s`)
    at.service = service
    at.owner = name
  }
}

/** The service of the longest configured prefix of `target`'s path, by whole segments. */
function longest<S>(root: Node<S>, target: string): S | undefined {
  let best = root.service
  let at: Node<S> | undefined = root
  let start = target.charCodeAt(0) === 0x2f ? 1 : 0
  const end = pathEnd(target)
  while (at !== undefined && start < end) {
    let stop = target.indexOf('/', start)
    if (stop < 0 || stop > end) stop = end
    if (stop > start) {
      at = at.children.get(target.slice(start, stop))
      if (at?.service !== undefined) best = at.service
    }
    start = stop + 1
  }
  return best
}

/** Where the path of a request target ends: at its query or fragment, else its end. */
function pathEnd(target: string): number {
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i)
    if (c === 0x3f || c === 0x23) return i
  }
  return target.length
}

import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'
import { DEFAULT_SERVICE, SERVICE_NAME } from '../config/services.js'
import { decodeState, encodeState } from './codec.js'
import { StateFileError } from './errors.js'
import { readStateFile, removeStaleTemps, writeDurably } from './file-store.js'
import { connectLink, Fleet, replicaId } from './redis/fleet.js'
import type { RedisLink } from './redis/link.js'
import type { PersistedState, StateStore } from './types.js'

/** Where each service's release state is kept: one state file, or one Redis, for all of them. */
export interface ServiceStates {
  /**
   * The store of one service and, with state.redis, its fleet membership (all services share
   * ONE Redis connection). Called once per service; `windowMs` is that service's
   * autoRevert.window (the top-level one when absent).
   */
  open(service: string, windowMs?: number): Promise<{ store: StateStore; fleet: Fleet | null }>
  /** Names of services that have stored state, sorted. */
  stored(): Promise<string[]>
  /** Deletes one service's stored state. Never called for a configured service. */
  forget(service: string): Promise<void>
  /** Closes every fleet opened and the shared link. */
  close(): Promise<void>
}

/**
 * Opens the state of every service: `store` (tests) serves `default` and the state file the
 * others; else the fleet's Redis when `state.redis` is set; else the state file.
 */
export async function openServiceStates(config: Config, logger: Logger, store?: StateStore): Promise<ServiceStates> {
  const redis = config.state.redis
  if (store !== undefined || redis === null) return new FileServiceStates(new ServicesFile(config.state.file), store)
  return new RedisServiceStates(await connectLink(redis, logger), redis.keyPrefix, config.autoRevert.window, logger, config.services !== null)
}

function checkName(service: string): void {
  // Names become Redis keys and file entries: a ':' or '*' would reach into another service's keys.
  if (!SERVICE_NAME.test(service)) throw new Error(`"${service}" is not a service name (${SERVICE_NAME.source})`)
}

class FileServiceStates implements ServiceStates {
  constructor(
    readonly file: ServicesFile,
    readonly injected: StateStore | undefined,
  ) {}

  async open(service: string): Promise<{ store: StateStore; fleet: null }> {
    checkName(service)
    if (service === DEFAULT_SERVICE && this.injected !== undefined) return { store: this.injected, fleet: null }
    return { store: new ServiceFileStore(this.file, service), fleet: null }
  }

  async stored(): Promise<string[]> {
    const names = await this.file.services()
    if (this.injected === undefined) return names
    // The injected store, not the file, is where `default` keeps its state.
    const others = names.filter((name) => name !== DEFAULT_SERVICE)
    return (await this.injected.load()) === null ? others : [DEFAULT_SERVICE, ...others].sort()
  }

  async forget(service: string): Promise<void> {
    checkName(service)
    await this.file.forget(service)
  }

  async close(): Promise<void> {}
}

/** One service's view of the shared state file. */
class ServiceFileStore implements StateStore {
  readonly kind = 'file'

  constructor(
    readonly states: ServicesFile,
    readonly service: string,
  ) {}

  get file(): string {
    return this.states.path
  }

  load(): Promise<PersistedState | null> {
    return this.states.load(this.service)
  }

  save(state: PersistedState): Promise<void> {
    return this.states.save(this.service, encodeState(state, true))
  }
}

/**
 * Every service's state in one file, each entry exactly a version-1 document. While only
 * `default` has state the file IS that document, so an older switchyard still reads it;
 * otherwise it is `{version: 2, services: {...}}`. Each write replaces the whole file
 * atomically (writeDurably); reads and writes run one after another, and saves that arrive
 * during a write share the next one.
 */
export class ServicesFile {
  /** What the file holds, as last read or durably written; null before the first read. */
  #durable: Map<string, unknown> | null = null
  /** Changes for the next write: an entry, or null to remove one. */
  #staged = new Map<string, unknown>()
  /** The last queued read or write: the next runs after it, so no two renames race. */
  #tail: Promise<unknown> = Promise.resolve()
  /** The queued write that has not started yet, which later saves join. */
  #next: Promise<void> | null = null

  constructor(readonly path: string) {}

  /** Reads the file again (it is this process's alone, but a read is what load promises). */
  async load(service: string): Promise<PersistedState | null> {
    const doc = (await this.#queue(() => this.#read())).get(service)
    return doc === undefined ? null : (decodeState(doc) as PersistedState)
  }

  async services(): Promise<string[]> {
    return [...(await this.#queue(() => this.#read())).keys()].sort()
  }

  /** Resolves once a write holding `doc` is durable. */
  save(service: string, doc: Record<string, unknown>): Promise<void> {
    this.#staged.set(service, doc)
    return this.#write()
  }

  forget(service: string): Promise<void> {
    this.#staged.set(service, null)
    return this.#write()
  }

  #write(): Promise<void> {
    this.#next ??= this.#queue(async () => {
      this.#next = null
      const staged = this.#staged
      this.#staged = new Map()
      // A first write must carry the entries of the other services already in the file.
      const entries = new Map(this.#durable ?? (await this.#read()))
      for (const [service, doc] of staged) {
        if (doc === null) entries.delete(service)
        else entries.set(service, doc)
      }
      await writeDurably(this.path, JSON.stringify(documentOf(entries)))
      // Only now: a failed write's changes were refused to their savers, so no later write may carry them.
      this.#durable = entries
    })
    return this.#next
  }

  #queue<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(step)
    this.#tail = run.catch(() => undefined)
    return run
  }

  async #read(): Promise<Map<string, unknown>> {
    await removeStaleTemps(this.path)
    this.#durable = entriesOf(this.path, await readStateFile(this.path))
    return this.#durable
  }
}

/** The entries of a state file (version 1: `default`'s); every entry is checked, naming the one at fault. */
function entriesOf(file: string, data: unknown): Map<string, unknown> {
  if (data === null) return new Map()
  if (typeof data === 'object' && (data as { version?: unknown }).version === 2) {
    const services = (data as { services?: unknown }).services
    if (typeof services !== 'object' || services === null || Array.isArray(services)) {
      throw new StateFileError(file, 'does not hold a switchyard state at /services (version 2 needs an object of services)')
    }
    const entries = new Map<string, unknown>()
    for (const [service, doc] of Object.entries(services)) {
      if (!SERVICE_NAME.test(service)) throw new StateFileError(file, `holds an entry "${service}" that is not a service name`)
      const problem = decodeState(doc)
      if (typeof problem === 'string') throw new StateFileError(file, `does not hold a switchyard state for service "${service}"${problem}`)
      entries.set(service, doc)
    }
    return entries
  }
  const problem = decodeState(data)
  if (typeof problem === 'string') throw new StateFileError(file, `does not hold a switchyard state${problem}`)
  return new Map([[DEFAULT_SERVICE, data]])
}

function documentOf(entries: Map<string, unknown>): unknown {
  if (entries.size === 1 && entries.has(DEFAULT_SERVICE)) return entries.get(DEFAULT_SERVICE)
  return { version: 2, services: Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : 1))) }
}

/**
 * Every service's fleet on one link: `default` under keyPrefix (today's keys), any other
 * under `<keyPrefix>svc:<name>:`, so each has its own compare-and-set, lease and counters.
 */
class RedisServiceStates implements ServiceStates {
  readonly #fleets = new Map<string, Fleet>()
  /** One id for this process in every service's lease and member list. */
  readonly #replica = replicaId()

  constructor(
    readonly link: RedisLink,
    readonly keyPrefix: string,
    readonly windowMs: number,
    readonly logger: Logger,
    /** Several services: their rollout leases spread over the replicas. */
    readonly spread: boolean,
  ) {}

  async open(service: string, windowMs = this.windowMs): Promise<{ store: StateStore; fleet: Fleet }> {
    checkName(service)
    let fleet = this.#fleets.get(service)
    if (fleet === undefined) {
      const logger = service === DEFAULT_SERVICE ? this.logger : this.logger.child({ service })
      fleet = Fleet.forService(this.link, this.#prefix(service), windowMs, logger, this.#replica, this.spread)
      this.#fleets.set(service, fleet)
    }
    return { store: fleet.store, fleet }
  }

  async stored(): Promise<string[]> {
    const names = new Set<string>()
    const under = `${this.keyPrefix}svc:`
    const pattern = `${this.keyPrefix.replace(/[*?[\]\\]/g, '\\$&')}svc:*:state`
    let cursor = '0'
    do {
      const [next, keys] = await this.link.run((r) => r.scan(cursor, 'MATCH', pattern, 'COUNT', 500))
      cursor = next
      for (const key of keys) {
        const name = key.slice(under.length, -':state'.length)
        if (SERVICE_NAME.test(name)) names.add(name)
      }
    } while (cursor !== '0')
    if ((await this.link.run((r) => r.exists(`${this.keyPrefix}state`))) === 1) names.add(DEFAULT_SERVICE)
    return [...names].sort()
  }

  async forget(service: string): Promise<void> {
    checkName(service)
    const prefix = this.#prefix(service)
    await this.link.run((r) => r.del(`${prefix}state`, `${prefix}events`))
  }

  async close(): Promise<void> {
    for (const fleet of this.#fleets.values()) await fleet.close()
    this.#fleets.clear()
    await this.link.close()
  }

  #prefix(service: string): string {
    return service === DEFAULT_SERVICE ? this.keyPrefix : `${this.keyPrefix}svc:${service}:`
  }
}

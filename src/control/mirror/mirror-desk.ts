import type { Logger } from 'pino'
import type { Config } from '../../config/schema.js'
import { mergeReports, type SharedReport } from '../../shadow/merge.js'
import type { MirrorReportAnswer, MirrorView } from '../port.js'
import type { Release } from '../release/release.js'
import type { ShadowJudge } from './shadow-judge.js'

/** How often a fleet replica shares its mirror report. */
const SHARE_REPORT_MS = 3_000

/** What the mirror desk needs of a fleet: sharing reports through Redis. */
export interface ReportExchange {
  shareReport(json: string): Promise<void>
  otherReports(): Promise<string[]>
}

/**
 * What the admin API reads of mirroring: the share and settings (GET /v1/mirror), and the report,
 * which in a fleet is the sum of every live replica's (each shares its own every few seconds).
 */
export class MirrorDesk {
  readonly #release: Release
  readonly #shadows: ShadowJudge
  readonly #config: () => Config
  readonly #fleet: ReportExchange | null
  readonly #logger: Logger
  #sharing: NodeJS.Timeout | undefined

  constructor(o: { release: Release; shadows: ShadowJudge; config: () => Config; fleet: ReportExchange | null; logger: Logger }) {
    this.#release = o.release
    this.#shadows = o.shadows
    this.#config = o.config
    this.#fleet = o.fleet
    this.#logger = o.logger
  }

  /** In a fleet, starts sharing this replica's report (off the request path; the report is bounded by its caps). */
  start(): void {
    const fleet = this.#fleet
    if (fleet === null || this.#sharing !== undefined) return
    this.#sharing = setInterval(() => {
      fleet.shareReport(JSON.stringify(this.#shadows.report())).catch((err: unknown) => this.#logger.debug({ err: String(err) }, 'mirror report not shared'))
    }, SHARE_REPORT_MS)
    this.#sharing.unref()
  }

  stop(): void {
    clearInterval(this.#sharing)
    this.#sharing = undefined
  }

  view(): MirrorView {
    const m = this.#config().mirror
    return {
      percent: this.#release.mirror() / 100,
      generation: this.#release.state().generation,
      settings: { methods: m.methods, maxBodySize: m.maxBodySize, concurrency: m.concurrency, timeout: m.timeout, header: m.header, mode: m.compare.mode },
      ...this.#shadows.counts(),
      evidence: this.#shadows.evidenceView(),
    }
  }

  /** This replica's report, or in a fleet (unless `replica` is asked for) the sum of every live replica's. */
  async report(scope: 'fleet' | 'replica'): Promise<MirrorReportAnswer> {
    const own = this.#shadows.report()
    if (scope === 'replica' || this.#fleet === null) return { scope: 'replica', ...own }
    const shared = await this.#fleet.otherReports().catch(() => [])
    const others = shared.flatMap((json) => {
      try {
        return [JSON.parse(json) as SharedReport]
      } catch {
        return []
      }
    })
    return { scope: 'fleet', since: own.since, ...mergeReports([own, ...others]) }
  }
}

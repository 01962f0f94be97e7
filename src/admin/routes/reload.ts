import { Type } from 'typebox'
import { ConfigError } from '../../config/config-error.js'
import type { ConfigChanges } from '../../config/reload.js'
import type { Caller } from '../../control/port.js'
import { callerOf } from '../auth.js'
import { httpError } from '../http-errors.js'
import type { AdminApp } from '../server.js'

/** What a config reload did: the keys whose values changed, and those of them that wait for a restart. */
export type ReloadResult = ConfigChanges

/**
 * Re-reads the config file and applies it, as SIGHUP does (cli.ts gives the one function both
 * use). Throws ConfigError, naming the key, when the file is refused: the running config stays.
 * `caller`: who asked over the admin API (absent: a signal), for the reload's log line.
 */
export type Reload = (caller?: Caller) => Promise<ReloadResult>

const ReloadAnswer = Type.Object({
  reloaded: Type.Literal(true),
  changed: Type.Array(Type.String()),
  restartRequired: Type.Array(Type.String()),
})

/** POST /v1/reload: a SIGHUP over HTTP; 409 when this switchyard has no config file to re-read. */
export function reloadRoutes(app: AdminApp, reload: Reload | undefined): void {
  app.post('/v1/reload', { schema: { response: { 200: ReloadAnswer } } }, async (request) => {
    if (reload === undefined) {
      throw httpError('SY_ERR_RELOAD_OFF', 'reload needs a config file: this switchyard was not started with --config, so there is nothing to re-read')
    }
    try {
      const { changed, restartRequired } = await reload(callerOf(request))
      return { reloaded: true as const, changed: [...changed], restartRequired: [...restartRequired] }
    } catch (err) {
      if (err instanceof ConfigError) throw httpError('SY_ERR_RELOAD_REFUSED', `config reload refused, the running config stays: ${err.message}`)
      throw err
    }
  })
}

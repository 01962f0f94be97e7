import { AdminClient } from './client.js'
import type { CommonOptions } from './options.js'
import { Output } from './output.js'

/** What a command's action works with: the admin API and the terminal. */
export interface Context {
  readonly client: AdminClient
  readonly out: Output
}

export function contextOf(options: CommonOptions): Context {
  return { client: new AdminClient({ url: options.url, token: options.token, service: options.service }), out: new Output(options.json === true) }
}

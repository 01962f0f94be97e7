/** Exit codes a script can branch on: the same for every command. */
export const EXIT = {
  ok: 0,
  /** The server refused (its error code and message are printed), or a rollout waited for failed. */
  refused: 1,
  /** The command line is wrong: nothing was sent. */
  usage: 2,
  /** The admin API could not be reached (connection refused, DNS, timeout). */
  unreachable: 3,
} as const

/** An error that ends a command with its exit code and one message for people. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message)
    this.name = 'CliError'
  }
}

/** The command line cannot be right whatever the server says; exit 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage)
    this.name = 'UsageError'
  }
}

/** The server answered with an error: its status, catalog code and message; exit 1. */
export class RefusedError extends CliError {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    /** The server's JSON error body (printed as is under --json). */
    readonly body: unknown,
    hint = '',
  ) {
    super(`refused: ${code} (${status}): ${detail}${hint === '' ? '' : ` (${hint})`}`, EXIT.refused)
    this.name = 'RefusedError'
  }
}

/** Nothing answered at the admin URL; exit 3. */
export class UnreachableError extends CliError {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(
      `cannot reach the admin API at ${url} (${reason}); is switchyard running there? Set the address with --url or SWITCHYARD_ADMIN_URL`,
      EXIT.unreachable,
    )
    this.name = 'UnreachableError'
  }
}

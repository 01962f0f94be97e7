/**
 * Where a connection is: waiting for (the rest of) a request head; reading a request body and
 * forwarding it (or dropping it, for a request already answered); the request is whole and its
 * answer on its way (bytes after it, pipelined, wait); the last answer is out or going, nothing
 * more is read; closed, or handed over to node's engine. Ordered: Closing and Gone read nothing.
 */
export const Phase = { Head: 0, Body: 1, Busy: 2, Closing: 3, Gone: 4 } as const
export type Phase = (typeof Phase)[keyof typeof Phase]

/**
 * What a connection's own deadline is for: a request head (timeouts.header from its first byte,
 * or from the connection's opening), the next request on an idle keep-alive connection, or more
 * of a request body (timeouts.body of silence).
 */
export const Wait = { None: 0, Head: 1, KeepAlive: 2, Body: 3 } as const
export type Wait = (typeof Wait)[keyof typeof Wait]

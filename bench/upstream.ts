/**
 * The two upstreams, "blue" and "green": one nginx worker pinned to CPU 1 with two server blocks.
 * nginx answers from memory or the page cache, so it is never what limits a proxy.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { waitForHttp } from './http-check.js'
import { nginxArgs, nginxMain } from './nginx-conf.js'
import type { ProcessRegistry, Tracked } from './procs.js'
import { SSE_EVENTS, SSE_INTERVAL_MS } from './settings.js'

export const BODY_BYTES = 100
export const LARGE_BYTES = 1024 * 1024

export interface Upstreams {
  readonly blue: string
  readonly green: string
  readonly bluePort: number
  readonly greenPort: number
  readonly process: Tracked
}

/** The ~100-byte answer of `/`: starts with the colour so checks can tell who answered. */
export function smallBody(color: string): string {
  const head = `${color} upstream of the switchyard bench `
  return `${head}${'.'.repeat(BODY_BYTES - head.length - 1)}\n`
}

function sseLocation(color: string): string {
  const lines: string[] = []
  for (let i = 1; i <= SSE_EVENTS; i++) {
    lines.push(`echo "id: ${i}";`, `echo 'data: {"color":"${color}","seq":${i},"text":"a token of a streamed answer"}';`, 'echo "";')
    lines.push('echo_flush;')
    if (i < SSE_EVENTS) lines.push(`echo_sleep ${(SSE_INTERVAL_MS / 1000).toFixed(3)};`)
  }
  return `location = /sse {
      default_type text/event-stream;
      add_header Cache-Control no-cache;
      add_header X-Accel-Buffering no;
      ${lines.join('\n      ')}
    }`
}

function server(color: string, port: number, dir: string): string {
  return `  server {
    listen 127.0.0.1:${port};
    location / {
      default_type text/plain;
      return 200 "${smallBody(color).trimEnd()}\\n";
    }
    location = /1mb {
      default_type application/octet-stream;
      alias ${join(dir, 'www', '1mb.bin')};
    }
    # Reads the whole body (in memory) before it answers.
    location = /upload {
      client_max_body_size 2m;
      client_body_buffer_size 2m;
      echo_read_request_body;
      echo "${color} read the body";
    }
    ${sseLocation(color)}
  }`
}

/** Starts the upstream nginx (CPU 1) and waits until both colours answer. */
export async function startUpstreams(
  registry: ProcessRegistry,
  tools: { nginx: string; taskset: string },
  dir: string,
  ports: { blue: number; green: number },
): Promise<Upstreams> {
  mkdirSync(join(dir, 'www'), { recursive: true })
  const large = Buffer.alloc(LARGE_BYTES)
  for (let i = 0; i < large.length; i++) large[i] = 97 + (i % 26)
  writeFileSync(join(dir, 'www', '1mb.bin'), large)

  const http = `  sendfile on;
  tcp_nopush on;
  gzip off;
${server('blue', ports.blue, dir)}
${server('green', ports.green, dir)}`
  const conf = join(dir, 'nginx.conf')
  writeFileSync(conf, nginxMain(dir, http, { loadEcho: true }))
  const proc = registry.spawn('upstream nginx', tools.taskset, ['-c', '1', tools.nginx, ...nginxArgs(dir, conf)], {
    logFile: join(dir, 'stdout.log'),
  })
  const blue = `http://127.0.0.1:${ports.blue}`
  const green = `http://127.0.0.1:${ports.green}`
  await waitForHttp(`${blue}/`, 10_000, proc)
  await waitForHttp(`${green}/`, 10_000, proc)
  return { blue, green, bluePort: ports.blue, greenPort: ports.green, process: proc }
}

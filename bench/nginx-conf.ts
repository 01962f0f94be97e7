/** nginx config pieces shared by the upstream and the nginx proxy: everything inside their own temp folder. */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'

export const ECHO_MODULE = '/usr/lib/nginx/modules/ngx_http_echo_module.so'

/** nginx's connections per worker unless asked for more: every scenario but the idle one fits. */
export const WORKER_CONNECTIONS = 8192

/**
 * The main and http-level lines of a one-worker nginx that writes only under `dir`.
 * `workerConnections` (client and upstream connections together) above WORKER_CONNECTIONS for
 * the idle scenario; nginx allocates them all at start, so the others keep the smaller figure.
 */
export function nginxMain(dir: string, http: string, options: { loadEcho?: boolean; workerConnections?: number } = {}): string {
  const connections = Math.max(WORKER_CONNECTIONS, options.workerConnections ?? 0)
  for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub), { recursive: true })
  // As root the workers would switch to "nobody" and could not read the temp folder.
  const user = process.getuid?.() === 0 ? 'user root;\n' : ''
  return `${options.loadEcho ? `load_module ${ECHO_MODULE};\n` : ''}${user}worker_processes 1;
worker_rlimit_nofile ${Math.max(16384, connections + 1024)};
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections ${connections}; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'client_body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  # wrk keeps its connections for the whole run: do not close them every 1,000 requests.
  keepalive_requests 10000000;
  keepalive_timeout 75s;
  server_tokens off;
  # The upload scenario's 1 MiB bodies (nginx refuses over 1 MiB by default).
  client_max_body_size 2m;
${http}
}
`
}

/** Arguments that run nginx in the foreground with this prefix and config. */
export function nginxArgs(dir: string, conf: string): string[] {
  return ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf, '-g', 'daemon off;']
}

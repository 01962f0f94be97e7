/** nginx config pieces shared by the upstream and the nginx proxy: everything inside their own temp folder. */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'

export const ECHO_MODULE = '/usr/lib/nginx/modules/ngx_http_echo_module.so'

/** The main and http-level lines of a one-worker nginx that writes only under `dir`. */
export function nginxMain(dir: string, http: string, options: { loadEcho?: boolean } = {}): string {
  for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub), { recursive: true })
  // As root the workers would switch to "nobody" and could not read the temp folder.
  const user = process.getuid?.() === 0 ? 'user root;\n' : ''
  return `${options.loadEcho ? `load_module ${ECHO_MODULE};\n` : ''}${user}worker_processes 1;
worker_rlimit_nofile 16384;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 8192; }
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
${http}
}
`
}

/** Arguments that run nginx in the foreground with this prefix and config. */
export function nginxArgs(dir: string, conf: string): string[] {
  return ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf, '-g', 'daemon off;']
}

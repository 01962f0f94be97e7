import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { ConfigError, loadConfigFile } from '../../src/config/load.js'

// A static check of the container files (no Docker daemon on the test machines): the configs
// the image and compose.yaml start with load, the ports they listen on are the ones
// published, compose's colours and Redis are where the config looks for them, and the state
// sits on a volume.
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const dockerfile = readFileSync(`${ROOT}Dockerfile`, 'utf8')

interface Service { build?: string; image?: string; entrypoint?: string[]; command?: string[]; environment?: Record<string, string>; ports?: string[]; volumes?: string[]; depends_on?: Record<string, unknown> }
const compose = parseYaml(readFileSync(`${ROOT}compose.yaml`, 'utf8')) as { services: Record<string, Service>; volumes?: Record<string, unknown> }

const env = { SWITCHYARD_ADMIN_TOKEN: 'a-token-from-the-environment' }

describe('the Docker image', () => {
  it('starts with config/docker.yaml, which publishes the admin API and keeps the state on the volume', async () => {
    expect(dockerfile).toMatch(/^CMD \["--config", "config\/docker\.yaml"\]$/m)
    expect(dockerfile).toMatch(/^VOLUME \["\/app\/var"\]$/m)
    expect(dockerfile).toMatch(/^COPY dashboard \.\/dashboard$/m)
    const config = await loadConfigFile(`${ROOT}config/docker.yaml`, env)
    expect(config.admin.host).toBe('0.0.0.0')
    expect(config.state.file.startsWith('/app/var/')).toBe(true)
    const exposed = /^EXPOSE (.+)$/m.exec(dockerfile)?.[1]?.split(/\s+/).map(Number)
    expect(exposed).toEqual([config.proxy.port, config.admin.port])
  })

  it('refuses to start with the admin API open and no token, saying how to set one', async () => {
    await expect(loadConfigFile(`${ROOT}config/docker.yaml`, {})).rejects.toThrow(ConfigError)
    await expect(loadConfigFile(`${ROOT}config/docker.yaml`, {})).rejects.toThrow(/SWITCHYARD_ADMIN_TOKEN/)
  })
})

describe('compose.yaml', () => {
  const services = compose.services
  const switchyard = services.switchyard!

  it('runs switchyard, two demo colours and Redis', () => {
    expect(Object.keys(services).sort()).toEqual(['blue', 'green', 'redis', 'switchyard'])
    expect(switchyard.environment?.SWITCHYARD_ADMIN_TOKEN).toMatch(/^\$\{SWITCHYARD_ADMIN_TOKEN:\?/)
    expect(Object.keys(switchyard.depends_on ?? {}).sort()).toEqual(['blue', 'green', 'redis'])
    expect(services.redis!.volumes?.some((v) => v.endsWith(':/data'))).toBe(true)
  })

  it("points switchyard's config at the colours and Redis by service name, on the ports they listen on", async () => {
    const file = switchyard.command![switchyard.command!.indexOf('--config') + 1]!
    const config = await loadConfigFile(`${ROOT}${file}`, env)
    for (const color of ['blue', 'green'] as const) {
      const service = services[color]!
      expect(service.entrypoint).toEqual(['node', 'dist/demo/serve.js'])
      const [colorArg, port] = service.command!
      expect(colorArg).toBe(color)
      expect(config.upstreams[color].targets).toEqual([`http://${color}:${port}`])
    }
    expect(config.state.redis?.url).toMatch(/^redis:\/\/redis:6379\b/)
    const published = switchyard.ports!.map((p) => Number(p.split(':').at(-1)))
    expect(published.sort()).toEqual([config.proxy.port, config.admin.port].sort())
    // The admin port is published on loopback only: it is still reachable from the host, not from the network.
    expect(switchyard.ports).toContain(`127.0.0.1:${config.admin.port}:${config.admin.port}`)
  })
})

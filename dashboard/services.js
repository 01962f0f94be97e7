// The service selector, for a switchyard that fronts several services (GET /v1/services): the
// choice lives in the URL hash (`#service=api`), so a reload or a shared link keeps it, and
// api.js sends every service-scoped call to the service chosen. With one service named
// `default`, or a switchyard from before services (404), the page stays as it always was.

import { call, useService } from './api.js'
import { byId, el } from './dom.js'

/** GET /v1/services, or null from a switchyard that has no such route. */
export async function listServices(options) {
  try {
    return await call('GET', '/v1/services', undefined, options)
  } catch (err) {
    if (err.status === 404) return null
    throw err
  }
}

/** The service the URL hash names, or null. */
function hashed() {
  return new URLSearchParams(location.hash.slice(1)).get('service')
}

/** The URL with `#service=name`, other hash entries kept. */
function withHash(name) {
  const params = new URLSearchParams(location.hash.slice(1))
  params.set('service', name)
  return `#${params}`
}

/**
 * Wires the header's selector once. `show(list)` fills it from GET /v1/services' answer and
 * picks the service the hash names (else the default one); `onChange(name)` runs after each
 * later switch, once the calls address the new service.
 */
export function servicePicker({ onChange }) {
  const picker = byId('service-picker')
  const select = byId('service')
  /** Names that may be chosen: the configured services. */
  let choosable = new Set()
  let current = null

  const choose = (name) => {
    current = name
    select.value = name
    useService(name)
    document.title = `${name} · switchyard`
    history.replaceState(null, '', withHash(name))
  }

  // The selector writes the hash; the hash (also moved by back, forward or an edited URL) switches.
  select.addEventListener('change', () => {
    location.hash = withHash(select.value)
  })
  window.addEventListener('hashchange', () => {
    if (current === null) return
    const name = hashed()
    if (name === current) return
    if (!choosable.has(name)) return choose(current)
    choose(name)
    onChange(name)
  })

  return {
    show(list) {
      const services = list?.services ?? []
      const configured = services.filter((s) => s.configured)
      if (configured.length === 0 || (services.length === 1 && services[0].name === 'default')) {
        picker.hidden = true
        choosable = new Set()
        current = null
        useService(null)
        return
      }
      // The default service first, then the others as the server lists them.
      const main = list.defaultService ?? 'default'
      const ordered = [...services.filter((s) => s.name === main), ...services.filter((s) => s.name !== main)]
      select.replaceChildren(
        ...ordered.map((s) =>
          el(
            'option',
            { value: s.name, disabled: s.configured ? null : '', data: { configured: s.configured } },
            s.configured ? (s.name === list.defaultService ? `${s.name} (default)` : s.name) : `${s.name} (removed from config)`,
          ),
        ),
      )
      choosable = new Set(configured.map((s) => s.name))
      picker.hidden = false
      const wanted = hashed()
      choose(choosable.has(wanted) ? wanted : ordered.find((s) => s.configured).name)
    },
  }
}

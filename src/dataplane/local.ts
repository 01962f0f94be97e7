import type { ProxyServer } from '../proxy/proxy-server.js'
import type { RoutingTable, TableSource } from '../routing/types.js'
import type { DataPlane } from './plane.js'

/**
 * The routing table a proxy in this process reads: one reference, replaced whole when the
 * release publishes a new one. The proxy's TableSource.
 */
export class TableHolder implements TableSource {
  #table: RoutingTable

  constructor(table: RoutingTable) {
    this.#table = table
  }

  current(): RoutingTable {
    return this.#table
  }

  set(table: RoutingTable): void {
    this.#table = table
  }
}

/** The data plane of a single-process switchyard: the proxy in this process, routing with `tables`. */
export function localDataPlane(proxy: ProxyServer, tables: TableHolder, served: () => number): DataPlane {
  return {
    setTargets: (color, targets) => proxy.setTargets(color, targets),
    setTimeouts: (timeouts) => proxy.setTimeouts(timeouts),
    setHealth: (healthCheck, outlier) => proxy.setHealth(healthCheck, outlier),
    publish: async (table) => tables.set(table),
    health: async () => proxy.health(),
    inFlight: async () => proxy.inFlight(),
    connections: async () => proxy.connections(),
    drainColor: (color, deadlineMs) => proxy.drainColor(color, deadlineMs),
    cancelDrain: (color) => proxy.cancelDrain(color),
    remoteMetrics: async () => [],
    workers: async () => [{ id: 0, pid: process.pid, requests: served(), inFlight: proxy.inFlight() }],
    setCertificates: (certificates) => proxy.setCertificates(certificates),
    close: (deadlineMs) => proxy.close(deadlineMs),
  }
}

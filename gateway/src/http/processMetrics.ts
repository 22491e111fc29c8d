// The gateway process itself on its own registry: CPU, memory, file descriptors, GC and the event-loop
// delay (one thread relays every camera's packets: a slow loop delays them all), and what build runs.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { version as mediasoupVersion } from 'mediasoup';
import { collectDefaultMetrics, Gauge, type Registry } from 'prom-client';

const PACKAGE_JSON = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../package.json');

/**
 * Gauges that prom-client names `_total` though they are no counters (lint: "non-counter metrics should
 * not have _total suffix"); the same numbers stay, by type, in nodejs_active_handles / _requests / _resources.
 */
const MISNAMED = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export function registerProcessMetrics(registry: Registry, opts: { eventLoopPrecisionMs: number }): void {
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: opts.eventLoopPrecisionMs });
  for (const name of MISNAMED) registry.removeSingleMetric(name);
  const version = (JSON.parse(fs.readFileSync(PACKAGE_JSON, 'utf8')) as { version: string }).version;
  new Gauge({
    name: 'cctv_build_info',
    help: 'Always 1: the version of the gateway, of Node.js and of mediasoup this process runs',
    labelNames: ['version', 'node_version', 'mediasoup_version'],
    registers: [registry],
  }).set({ version, node_version: process.version, mediasoup_version: mediasoupVersion }, 1);
}

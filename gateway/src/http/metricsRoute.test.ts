import { describe, expect, it } from 'vitest';
import { metricsAccess } from './metricsRoute.js';

const cfg = (
  metrics: { listen?: { host: string; port: number }; token?: string },
  allowAnonymousMetrics?: boolean,
) => ({
  metrics,
  auth: allowAnonymousMetrics === undefined ? {} : { allowAnonymousMetrics },
});
const PROD = 'NODE_ENV=production';

describe('metricsAccess', () => {
  it('is open in development and the demo, without a warning', () => {
    expect(metricsAccess(cfg({}), undefined)).toEqual({ access: { kind: 'open' } });
  });

  it('asks for a token in production when nothing is set, and says what to set', () => {
    const r = metricsAccess(cfg({}), PROD);
    expect(r.access).toEqual({ kind: 'token' });
    expect(r.warning).toMatch(/CCTV_METRICS_TOKEN.*metrics\.listen/);
  });

  it('takes metrics.token anywhere, and metrics.listen over everything (public port: 404)', () => {
    expect(metricsAccess(cfg({ token: 't'.repeat(16) }), undefined)).toEqual({
      access: { kind: 'token', token: 't'.repeat(16) },
    });
    expect(metricsAccess(cfg({ token: 't'.repeat(16) }, true), PROD).access.kind).toBe('token');
    expect(metricsAccess(cfg({ listen: { host: '127.0.0.1', port: 9464 } }, true), undefined)).toEqual({
      access: { kind: 'elsewhere' },
    });
  });

  it('follows an explicit auth.allowAnonymousMetrics, warning when it opens production', () => {
    expect(metricsAccess(cfg({}, false), undefined)).toEqual({ access: { kind: 'token' } });
    const open = metricsAccess(cfg({}, true), PROD);
    expect(open.access.kind).toBe('open');
    expect(open.warning).toMatch(/open to anyone/);
  });
});

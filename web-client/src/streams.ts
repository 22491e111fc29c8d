// Ordering and grouping of the stream list: by kecamatan (district), the kecamatan office first.
import type { StreamSummary } from './GatewayClient.js';

export const OTHER = 'Lainnya';

const isKecamatanOffice = (s: StreamSummary) => /kecamatan/i.test(s.name);

export function sortStreams(list: StreamSummary[]): StreamSummary[] {
  const coll = new Intl.Collator('id', { numeric: true, sensitivity: 'base' });
  return [...list].sort((a, b) => {
    const ka = a.kecamatan ?? '\uffff';
    const kb = b.kecamatan ?? '\uffff';
    if (ka !== kb) return coll.compare(ka, kb);
    const oa = isKecamatanOffice(a) ? 0 : 1;
    const ob = isKecamatanOffice(b) ? 0 : 1;
    return oa - ob || coll.compare(a.name, b.name);
  });
}

export function groupByKecamatan(list: StreamSummary[]): Map<string, StreamSummary[]> {
  const groups = new Map<string, StreamSummary[]>();
  for (const s of sortStreams(list)) {
    const k = s.kecamatan ?? OTHER;
    const g = groups.get(k) ?? [];
    g.push(s);
    groups.set(k, g);
  }
  return groups;
}

import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { turnCredential, turnSettings } from './turn.js';

const settings = {
  urls: ['turn:turn.example:3478?transport=tcp'],
  secret: 'north-wind-over-the-musi-river',
  ttlSec: 3600,
};

describe('TURN REST credentials', () => {
  it('username is <expiry>:<sub>, credential base64(HMAC-SHA1(secret, username)), never the secret', () => {
    const now = Date.UTC(2026, 0, 1, 0, 0, 0) + 999;
    const s = turnCredential(settings, 'opd-dishub', now);
    const expiry = Math.floor(now / 1000) + 3600;
    expect(s.username).toBe(`${expiry}:opd-dishub`);
    expect(s.credential).toBe(createHmac('sha1', settings.secret).update(s.username).digest('base64'));
    expect(s.urls).toEqual(settings.urls);
    expect(JSON.stringify(s)).not.toContain(settings.secret);
  });

  it('matches the value coturn computes (openssl vector)', () => {
    // echo -n '1767229200:alice' | openssl dgst -sha1 -hmac 'north-wind-over-the-musi-river' -binary | base64
    const s = turnCredential({ ...settings, ttlSec: 0 }, 'alice', 1_767_229_200_000);
    expect(s.username).toBe('1767229200:alice');
    expect(s.credential).toBe('WnMuTLh05rVgEe0WQedXyGHkiYY=');
  });

  it('no urls: no TURN; urls without a secret: refused', () => {
    expect(turnSettings({ urls: [], ttlSec: 3600 })).toBeUndefined();
    expect(() => turnSettings({ urls: settings.urls, ttlSec: 3600 })).toThrow(/CCTV_TURN_SECRET/);
    expect(turnSettings(settings)).toEqual(settings);
  });
});

import { describe, expect, it } from 'vitest';
import { trustVerdict, basicAuth } from '../../agent/src/adapters/pierone.js';
import { fromDockercfg } from '../../agent/src/steps/container/registry-auth.js';
import { Secret } from '../../agent/src/lib/secret.js';

describe('trustVerdict', () => {
  it('prefers X-Production-Ready-Taupage over X-Trusted', () => {
    expect(trustVerdict({ 'x-production-ready-taupage': 'true', 'x-trusted': 'false' }).trusted).toBe(true);
    expect(trustVerdict({ 'x-production-ready-taupage': 'false', 'x-trusted': 'true', 'x-production-ready-reason': 'no incident' })).toEqual({
      trusted: false,
      reason: 'no incident',
    });
  });

  it('falls back to X-Trusted and refuses when neither header is sent', () => {
    expect(trustVerdict({ 'x-trusted': 'true' }).trusted).toBe(true);
    expect(trustVerdict({ 'x-trusted': 'yes' }).trusted).toBe(false);
    expect(trustVerdict({}).trusted).toBe(false);
    expect(trustVerdict({}).reason).toMatch(/no X-Production-Ready-Taupage or X-Trusted/);
  });

  it('builds Basic auth from the credentials', () => {
    const h = basicAuth({ username: 'instance-identity-document', password: new Secret('PKCS7') });
    expect(Buffer.from(h.slice(6), 'base64').toString()).toBe('instance-identity-document:PKCS7');
  });
});

describe('fromDockercfg', () => {
  it('finds an auths entry by host in both forms, with the password kept secret', () => {
    const cfg = {
      'https://registry.example.org/v1/': { auth: Buffer.from('bob:s3cret').toString('base64'), email: 'x' },
      'other.example.org': { username: 'alice', password: 'pw' },
    };
    const a = fromDockercfg('registry.example.org', cfg)!;
    expect(a.username).toBe('bob');
    expect(a.password.reveal()).toBe('s3cret');
    expect(String(a.password)).toBe('[redacted]');
    expect(fromDockercfg('other.example.org', cfg)?.username).toBe('alice');
    expect(fromDockercfg('unknown.example.org', cfg)).toBeUndefined();
  });
});

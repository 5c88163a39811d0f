import { describe, expect, it } from 'vitest';
import { checkRemoteHost, inNetwork } from '../../../agent/src/access/remote-host.js';

describe('--remote-host policy', () => {
  it('is refused when no networks are allowed: Taupage hosts are not bastions', () => {
    expect(checkRemoteHost('10.0.0.5', ['10.0.0.5'], [])).toMatchObject({ ok: false, reason: expect.stringMatching(/not a bastion/) });
  });
  it('every resolved address must be inside an allowed network', () => {
    expect(checkRemoteHost('db', ['10.1.2.3'], ['10.0.0.0/8'])).toEqual({ ok: true, address: '10.1.2.3' });
    expect(checkRemoteHost('db', ['10.1.2.3', '8.8.8.8'], ['10.0.0.0/8'])).toMatchObject({ ok: false, reason: expect.stringMatching(/8\.8\.8\.8/) });
    expect(checkRemoteHost('nx', [], ['10.0.0.0/8'])).toMatchObject({ ok: false, reason: expect.stringMatching(/does not resolve/) });
  });
  it('CIDR arithmetic', () => {
    expect(inNetwork('172.31.255.255', '172.16.0.0/12')).toBe(true);
    expect(inNetwork('172.32.0.0', '172.16.0.0/12')).toBe(false);
    expect(inNetwork('1.2.3.4', '0.0.0.0/0')).toBe(true);
    expect(inNetwork('127.0.0.1', '127.0.0.1/32')).toBe(true);
    expect(inNetwork('256.0.0.1', '0.0.0.0/0')).toBe(false);
  });
});

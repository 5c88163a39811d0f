// Secrets print as [redacted] through every path Node offers; the logger redacts secret-named keys.
import { describe, it, expect } from 'vitest';
import { inspect, format } from 'node:util';
import { Writable } from 'node:stream';
import { Secret, redactDeep } from '../../agent/src/lib/secret.js';
import { createLogger } from '../../agent/src/lib/log.js';
import { AgentError } from '../../agent/src/lib/errors.js';

function collect() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { lines, log: createLogger({ destination: stream as never, level: 'debug' }) };
}

describe('Secret', () => {
  const s = new Secret('hunter2', 'environment.DB_PASSWORD');
  it('never prints its value', () => {
    expect(String(s)).toBe('[redacted]');
    expect(`${s}`).toBe('[redacted]');
    expect(JSON.stringify({ s })).toBe('{"s":"[redacted]"}');
    expect(inspect({ s })).not.toContain('hunter2');
    expect(format('%s %o %O %j', s, s, s, s)).not.toContain('hunter2');
    expect(Object.keys(s)).not.toContain('value');
    expect(s.reveal()).toBe('hunter2');
  });
});

describe('logger', () => {
  it('writes one JSON object per line with level names', () => {
    const { lines, log } = collect();
    log.info({ step: 'container' }, 'started');
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'info', step: 'container', msg: 'started', name: 'taupage' });
  });
  it('redacts keys containing pass, secret or private, case-insensitively, at any depth, and Secrets', () => {
    const { lines, log } = collect();
    log.info({ user: { application_password: 'p1', Client_Secret: 'p2', privateKey: 'p3', nested: [{ PASS: 'p4' }] }, token: new Secret('p5') }, 'x');
    const line = lines[0]!;
    for (const p of ['p1', 'p2', 'p3', 'p4', 'p5']) expect(line).not.toContain(`"${p}"`);
    expect(JSON.parse(line).user.application_password).toBe('[redacted]');
  });
  it('serializes AgentErrors by code, message and hint', () => {
    const { lines, log } = collect();
    log.error({ err: new AgentError('TPG_IMAGE_UNTRUSTED', 'image x is not approved', { hint: 'approve it in Pier One' }) }, 'boot failed');
    expect(JSON.parse(lines[0]!).err).toMatchObject({ code: 'TPG_IMAGE_UNTRUSTED', message: 'image x is not approved', hint: 'approve it in Pier One' });
  });
  it('redactDeep leaves other values alone', () => {
    expect(redactDeep({ a: 1, b: ['x'], password: null })).toEqual({ a: 1, b: ['x'], password: null });
  });
});

import { describe, expect, it } from 'vitest';
import { decodeAnswer, decodeRequest, encodeAnswer, encodeRequest, MAX_REQUEST_BYTES, WIRE_COMMAND_MAX } from '../../../agent/src/access/hook-protocol.js';

const line = (env: Parameters<typeof encodeRequest>[0]) => {
  const text = encodeRequest(env);
  expect(text.endsWith('\n')).toBe(true);
  expect(text.slice(0, -1)).not.toContain('\n');
  return text.slice(0, -1);
};

describe('the hook wire protocol', () => {
  it('a request round-trips, hostile bytes included, on one line', () => {
    const env = {
      SSH_ORIGINAL_COMMAND: 'grant-ssh-access alice\nid\u0000; $(x) "q" \\',
      SSH_CONNECTION: '10.0.0.5 50000 10.0.0.9 22',
      SSH_AUTH_SOCK: '/tmp/ssh-abc/agent.1',
    };
    expect(decodeRequest(line(env))).toEqual({
      ok: true,
      request: { command: env.SSH_ORIGINAL_COMMAND, length: env.SSH_ORIGINAL_COMMAND.length, connection: env.SSH_CONNECTION, agent: env.SSH_AUTH_SOCK },
    });
  });

  it('no command (a login without one) is null, not an empty string', () => {
    expect(decodeRequest(line({}))).toEqual({ ok: true, request: { command: null, length: 0, connection: null, agent: null } });
    expect(decodeRequest(line({ SSH_ORIGINAL_COMMAND: '' }))).toMatchObject({ ok: true, request: { command: '' } });
  });

  it('an over-long command is cut and keeps its length; over-long other fields are not sent', () => {
    const r = decodeRequest(line({ SSH_ORIGINAL_COMMAND: 'x'.repeat(100_000), SSH_CONNECTION: 'y'.repeat(300) }));
    expect(r).toEqual({ ok: true, request: { command: 'x'.repeat(WIRE_COMMAND_MAX), length: 100_000, connection: null, agent: null } });
    // The worst case still fits a request line: every character a control character (\uXXXX).
    expect(
      Buffer.byteLength(line({ SSH_ORIGINAL_COMMAND: '\u0001'.repeat(5000), SSH_CONNECTION: 'c'.repeat(256), SSH_AUTH_SOCK: '\u0002'.repeat(256) })),
    ).toBeLessThan(MAX_REQUEST_BYTES);
  });

  it.each([
    ['', /not JSON/],
    ['{"command":"x"', /not JSON/],
    ['null', /not a JSON object/],
    ['"grant-ssh-access alice"', /not a JSON object/],
    ['{"command":"x","length":1,"connection":null,"agent":null,"root":true}', /unknown request field "root"/],
    ['{"command":1,"length":1,"connection":null,"agent":null}', /"command" must be/],
    ['{"command":"x","length":0,"connection":null,"agent":null}', /"length" must be/],
    ['{"command":"x","length":1.5,"connection":null,"agent":null}', /"length" must be/],
    ['{"command":"x","length":1,"agent":null}', /"connection" must be/],
    ['{"command":"x","length":1,"connection":null,"agent":["a"]}', /"agent" must be/],
  ])('%j is refused', (text, reason) => {
    const r = decodeRequest(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it('answers round-trip; anything else is not an answer', () => {
    const a = { exit: 1, stdout: '', stderr: 'taupage ssh-hook: error TPG_SSH_REFUSED: no\n' };
    expect(decodeAnswer(encodeAnswer(a).trimEnd())).toEqual(a);
    for (const bad of ['', '{}', '{"exit":"0","stdout":"","stderr":""}', '{"exit":0,"stdout":""}', 'null']) expect(decodeAnswer(bad)).toBeUndefined();
  });
});

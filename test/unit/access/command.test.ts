import { describe, expect, it } from 'vitest';
import { parseAccessCommand } from '../../../agent/src/access/command.js';

describe('parseAccessCommand: the forms Even sends', () => {
  it.each([
    ['grant-ssh-access alice', { action: 'grant', user: 'alice', keepLocal: false }],
    ['grant-ssh-access --remote-host= alice', { action: 'grant', user: 'alice', keepLocal: false }],
    ['grant-ssh-access --remote-host=10.0.1.2 alice', { action: 'grant', user: 'alice', remoteHost: '10.0.1.2', keepLocal: false }],
    ['revoke-ssh-access alice', { action: 'revoke', user: 'alice', keepLocal: false }],
    ['revoke-ssh-access --keep-local alice', { action: 'revoke', user: 'alice', keepLocal: true }],
    ['revoke-ssh-access --remote-host=odd.example.org --keep-local a-1', { action: 'revoke', user: 'a-1', remoteHost: 'odd.example.org', keepLocal: true }],
    ['  grant-ssh-access   alice  ', { action: 'grant', user: 'alice', keepLocal: false }],
    // Even's expiry job puts the name first (even job.clj).
    ['revoke-ssh-access alice --keep-local', { action: 'revoke', user: 'alice', keepLocal: true }],
    ['revoke-ssh-access alice --remote-host 10.0.1.2 --keep-local', { action: 'revoke', user: 'alice', remoteHost: '10.0.1.2', keepLocal: true }],
    ['revoke-ssh-access alice --remote-host=', { action: 'revoke', user: 'alice', keepLocal: false }],
    [`grant-ssh-access a${'b'.repeat(31)}`, { action: 'grant', user: `a${'b'.repeat(31)}`, keepLocal: false }],
  ])('%j is accepted', (raw, request) => {
    expect(parseAccessCommand(raw)).toEqual({ ok: true, request });
  });
});

describe('parseAccessCommand: everything else is refused with the reason', () => {
  it.each([
    [undefined, /no command given/],
    ['', /no command given/],
    ['bash', /unknown command "bash"/],
    ['grant-ssh-access', /missing user name/],
    ['grant-ssh-access alice bob', /unexpected argument "alice"/],
    ['grant-ssh-access alice; rm -rf /', /unexpected argument|invalid user name/],
    ['grant-ssh-access $(id)', /invalid user name/],
    ['grant-ssh-access `id`', /invalid user name/],
    ['grant-ssh-access --help', /unknown option "--help"/],
    ['grant-ssh-access -h alice', /unknown option "-h"/],
    ['grant-ssh-access ../x', /invalid user name/],
    ['grant-ssh-access Alice', /invalid user name/],
    ['grant-ssh-access 1alice', /invalid user name/],
    [`grant-ssh-access a${'b'.repeat(32)}`, /invalid user name/],
    ['grant-ssh-access alice\u0000', /control or non-ASCII character \(code 0/],
    ['grant-ssh-access alice\nid', /control or non-ASCII character \(code 10/],
    ['grant-ssh-access\talice', /control or non-ASCII/],
    ['grant-ssh-access ａlice', /non-ASCII/],
    ['grant-ssh-access --keep-local alice', /unknown option "--keep-local"/],
    ['revoke-ssh-access --keep-local --keep-local alice', /--keep-local given twice/],
    ['grant-ssh-access --remote-host=a --remote-host=b alice', /--remote-host given twice/],
    ['grant-ssh-access --remote-host host alice', /unknown option "--remote-host"/],
    ['grant-ssh-access alice --remote-host=x', /unexpected argument "alice"|invalid user name/],
    ['grant-ssh-access --remote-host=Host.example alice', /invalid remote host/],
    [`grant-ssh-access --remote-host=${'a'.repeat(256)} alice`, /invalid remote host|too long/],
    ['grant-ssh-access --remote-host=a;b alice', /invalid remote host/],
    ['grant-ssh-access --user=alice', /unknown option/],
    ['revoke-ssh-access alice bob', /unexpected argument "bob" after the user name/],
    ['revoke-ssh-access alice --remote-host', /--remote-host needs a host/],
    ['revoke-ssh-access alice --remote-host --keep-local', /invalid remote host/],
    ['revoke-ssh-access alice --keep-local --keep-local', /--keep-local given twice/],
    ['revoke-ssh-access alice --help', /unexpected argument "--help"/],
    ['revoke-ssh-access Alice --keep-local', /invalid user name/],
    ['x'.repeat(401), /command too long/],
  ])('%j', (raw, reason) => {
    const r = parseAccessCommand(raw as string | undefined);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it('quotes hostile words so they cannot forge lines in the message', () => {
    const r = parseAccessCommand('grant-ssh-access "x"y alice');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain('"\\"x\\"y"');
  });
});

describe('parseAccessCommand with the length the command had before the client cut it', () => {
  it('refuses a cut command as too long, naming its real length', () => {
    expect(parseAccessCommand('grant-ssh-access alice', 5000)).toEqual({ ok: false, reason: 'command too long (5000 characters, at most 400)' });
    expect(parseAccessCommand('grant-ssh-access alice', 22)).toMatchObject({ ok: true });
  });
});

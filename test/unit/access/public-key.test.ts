import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkPublicKey } from '../../../agent/src/access/public-key.js';

let dir: string;
const keys: Record<string, string> = {};

/** A real key from ssh-keygen, and the fingerprint ssh-keygen prints for it. */
function keygen(name: string, args: string[]): { text: string; fingerprint: string } {
  const f = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-N', '', '-C', 'someone@example.org', '-f', f, ...args]);
  const text = readFileSync(`${f}.pub`, 'utf8');
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${f}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  keys[name] = text;
  return { text, fingerprint };
}

const wire = (...parts: Array<Buffer | string>) =>
  Buffer.concat(
    parts.flatMap((p) => {
      const b = Buffer.isBuffer(p) ? p : Buffer.from(p, 'latin1');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      return [len, b];
    }),
  ).toString('base64');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tpg-keys-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('checkPublicKey accepts real OpenSSH keys and fingerprints them as sshd does', () => {
  it.each([
    ['ed25519', ['-t', 'ed25519']],
    ['ecdsa256', ['-t', 'ecdsa', '-b', '256']],
    ['ecdsa384', ['-t', 'ecdsa', '-b', '384']],
    ['ecdsa521', ['-t', 'ecdsa', '-b', '521']],
    ['rsa2048', ['-t', 'rsa', '-b', '2048']],
  ])('%s', (name, args) => {
    const { text, fingerprint } = keygen(name, args);
    const r = checkPublicKey(text);
    expect(r).toMatchObject({ ok: true, key: { fingerprint, type: text.split(' ')[0], base64: text.split(' ')[1] } });
    if (name === 'rsa2048' && r.ok) expect(r.key.bits).toBe(2048);
  });

  it('security-key types (sk-ssh-ed25519, sk-ecdsa)', () => {
    const ed = wire('sk-ssh-ed25519@openssh.com', Buffer.alloc(32, 7), 'ssh:');
    expect(checkPublicKey(`sk-ssh-ed25519@openssh.com ${ed} yubikey`)).toMatchObject({ ok: true });
    const point = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 9)]);
    const ec = wire('sk-ecdsa-sha2-nistp256@openssh.com', 'nistp256', point, 'ssh:');
    expect(checkPublicKey(`sk-ecdsa-sha2-nistp256@openssh.com ${ec}`)).toMatchObject({ ok: true });
  });
});

describe('checkPublicKey refuses what sshd should never be given', () => {
  it('RSA under 2048 bits', () => {
    const { text } = keygen('rsa1024', ['-t', 'rsa', '-b', '1024']);
    expect(checkPublicKey(text)).toMatchObject({ ok: false, reason: expect.stringMatching(/RSA key too short \(1024 bits/) });
  });

  it.each([
    ['empty', '', /empty/],
    ['only a type', 'ssh-ed25519', /expected "<type> <base64>/],
    ['DSA', 'ssh-dss AAAAB3NzaC1kc3MAAACBAP', /DSA keys are not accepted/],
    ['a certificate', 'ssh-ed25519-cert-v01@openssh.com AAAA', /certificates are not accepted/],
    ['unknown type', 'ssh-foo AAAA', /unknown key type/],
    ['options in front', 'command="sh" ssh-ed25519 AAAA', /unknown key type/],
    ['not base64', 'ssh-ed25519 AAAA$AAA', /not valid base64/],
    ['length not a multiple of 4', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI', /not valid base64/],
  ])('%s', (_name, text, reason) => {
    expect(checkPublicKey(text)).toMatchObject({ ok: false, reason: expect.stringMatching(reason) });
  });

  it('a type that differs from the one inside the blob', () => {
    const blob = keys.ed25519!.split(' ')[1]!;
    expect(checkPublicKey(`ssh-rsa ${blob}`)).toMatchObject({ ok: false, reason: expect.stringMatching(/says "ssh-rsa" but its data is "ssh-ed25519"/) });
  });

  it('an ECDSA key whose curve does not match its type', () => {
    const blob = keys.ecdsa256!.split(' ')[1]!;
    expect(checkPublicKey(`ecdsa-sha2-nistp384 ${blob}`)).toMatchObject({ ok: false });
  });

  it('trailing bytes, truncated data, wrong ed25519 length', () => {
    expect(checkPublicKey(`ssh-ed25519 ${wire('ssh-ed25519', Buffer.alloc(32), 'extra')}`)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/trailing bytes/),
    });
    expect(checkPublicKey(`ssh-ed25519 ${wire('ssh-ed25519', Buffer.alloc(31))}`)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/malformed ed25519/),
    });
    const full = Buffer.from(keys.ed25519!.split(' ')[1]!, 'base64');
    expect(checkPublicKey(`ssh-ed25519 ${full.subarray(0, 20).toString('base64')}`)).toMatchObject({ ok: false });
  });

  it('two keys in one answer', () => {
    expect(checkPublicKey(`${keys.ed25519}${keys.ecdsa256}`)).toMatchObject({ ok: false, reason: expect.stringMatching(/expected one key, got 2 lines/) });
  });
});

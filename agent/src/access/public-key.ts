/*! Check a public key Even served before it goes into an authorized_keys file, and compute its
 * fingerprint in the form sshd logs on login ("SHA256:<base64, no padding>"), so the audit record
 * and sshd's "Accepted publickey ... SHA256:..." line can be joined.
 *
 * Pure. We decode the key blob and check what sshd would: a known type, base64 that decodes, the
 * type inside the blob equal to the stated one, well-formed fields with nothing left over, RSA of
 * at least 2048 bits. Options, certificates, DSA and several keys in one answer are refused. */
import { createHash } from 'node:crypto';

export interface PublicKey {
  type: string;
  /** The base64 blob exactly as served (canonical: it re-encodes to itself). */
  base64: string;
  fingerprint: string;
  /** RSA modulus size; undefined for other types. */
  bits?: number;
}

export type KeyCheck = { ok: true; key: PublicKey } | { ok: false; reason: string };

/** Types sshd accepts for user keys here, and how their blob continues after the type string. */
const TYPES: Record<string, 'ed25519' | 'rsa' | 'ecdsa' | 'sk-ed25519' | 'sk-ecdsa'> = {
  'ssh-ed25519': 'ed25519',
  'ssh-rsa': 'rsa',
  'ecdsa-sha2-nistp256': 'ecdsa',
  'ecdsa-sha2-nistp384': 'ecdsa',
  'ecdsa-sha2-nistp521': 'ecdsa',
  'sk-ssh-ed25519@openssh.com': 'sk-ed25519',
  'sk-ecdsa-sha2-nistp256@openssh.com': 'sk-ecdsa',
};

/** Uncompressed EC point length per curve: 0x04 || X || Y. */
const EC_POINT_LENGTH: Record<string, number> = { nistp256: 65, nistp384: 97, nistp521: 133 };

export const MIN_RSA_BITS = 2048;
export const MAX_KEY_TEXT = 16 * 1024;

export function checkPublicKey(text: string): KeyCheck {
  if (text.length > MAX_KEY_TEXT) return no(`the key is too long (${text.length} bytes)`);
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (lines.length === 0) return no('the key is empty');
  if (lines.length > 1) return no(`expected one key, got ${lines.length} lines`);
  const [type, base64] = lines[0]!.split(/[ \t]+/);
  if (type === undefined || base64 === undefined) return no('expected "<type> <base64> [comment]"');
  if (type === 'ssh-dss') return no('DSA keys are not accepted (sshd disables them); use ed25519');
  if (type.includes('-cert-v01@openssh.com')) return no('certificates are not accepted; serve the plain public key');
  const kind = TYPES[type];
  if (!kind) return no(`unknown key type ${JSON.stringify(type.slice(0, 40))} (expected one of ${Object.keys(TYPES).join(', ')})`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) return no('the key data is not valid base64');
  const blob = Buffer.from(base64, 'base64');
  if (blob.toString('base64') !== base64) return no('the key data is not canonical base64');
  const r = new Reader(blob);
  const inner = r.string()?.toString('latin1');
  if (inner === undefined) return no('the key data is truncated');
  if (inner !== type) return no(`the key says ${JSON.stringify(type)} but its data is ${JSON.stringify(inner.slice(0, 40))}`);
  let bits: number | undefined;
  switch (kind) {
    case 'ed25519':
    case 'sk-ed25519': {
      const pk = r.string();
      if (pk?.length !== 32) return no('malformed ed25519 key');
      if (kind === 'sk-ed25519' && r.string() === undefined) return no('malformed security-key data (no application)');
      break;
    }
    case 'rsa': {
      const e = r.string();
      const n = r.string();
      if (!e || !n || e.length === 0 || n.length === 0) return no('malformed RSA key');
      bits = mpintBits(n);
      if (bits < MIN_RSA_BITS) return no(`RSA key too short (${bits} bits, at least ${MIN_RSA_BITS})`);
      break;
    }
    case 'ecdsa':
    case 'sk-ecdsa': {
      const curve = r.string()?.toString('latin1');
      const expected = kind === 'ecdsa' ? type.slice('ecdsa-sha2-'.length) : 'nistp256';
      if (curve !== expected) return no(`the key's curve ${JSON.stringify(curve ?? '')} does not match its type`);
      const q = r.string();
      if (!q || q.length !== EC_POINT_LENGTH[curve] || q[0] !== 0x04) return no('malformed ECDSA point');
      if (kind === 'sk-ecdsa' && r.string() === undefined) return no('malformed security-key data (no application)');
      break;
    }
  }
  if (!r.done()) return no('the key data has trailing bytes');
  return { ok: true, key: { type, base64, fingerprint: fingerprintOf(blob), ...(bits !== undefined ? { bits } : {}) } };
}

/** "SHA256:" + unpadded base64 of the blob's SHA-256, as `ssh-keygen -l` and sshd print it. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function mpintBits(n: Buffer): number {
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  if (i === n.length) return 0;
  return (n.length - i - 1) * 8 + (32 - Math.clz32(n[i]!));
}

function no(reason: string): KeyCheck {
  return { ok: false, reason };
}

/** SSH wire strings: uint32 length, then bytes. */
class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  string(): Buffer | undefined {
    if (this.at + 4 > this.buf.length) return undefined;
    const len = this.buf.readUInt32BE(this.at);
    if (this.at + 4 + len > this.buf.length) return undefined;
    const s = this.buf.subarray(this.at + 4, this.at + 4 + len);
    this.at += 4 + len;
    return s;
  }
  done(): boolean {
    return this.at === this.buf.length;
  }
}

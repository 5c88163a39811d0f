/*! The SSH audit record and its hash chain, and the check that finds tampering. Pure.
 *
 * One JSON line per hook invocation. Each record carries its sequence number and `prev`, the
 * SHA-256 of the previous record's exact line, so editing a byte, deleting a record or reordering
 * two breaks the chain at that point. Cutting records off the end is caught by the head anchor
 * (the last seq and hash, kept beside the log) and by the syslog copy, which leaves the host. */
import { createHash } from 'node:crypto';

export const GENESIS = '0'.repeat(64);

export type AuditAction = 'grant' | 'revoke' | 'expire' | 'unknown';
export type AuditResult = 'granted' | 'revoked' | 'unchanged' | 'refused' | 'failed';

/** What the caller knows; seq and prev are added when the record is sealed into the chain. */
export interface AuditFields {
  time: string;
  action: AuditAction;
  user?: string;
  result: AuditResult;
  reason: string;
  /** "ip port" of the SSH client (Even), from SSH_CONNECTION; "local" for the expiry timer. */
  caller: string;
  remoteHost?: string;
  keyType?: string;
  /** SHA256:... as sshd logs it on login. */
  keyFingerprint?: string;
  expiresAt?: string;
  /** Where the key was written: the key directory on disk (root's, not the home), or tmpfs when the disk is full. */
  keyPath?: 'disk' | 'tmpfs';
  instanceId: string;
  /** The command as received (cut to 400 characters), for refused and failed requests. */
  command?: string;
}

export interface AuditRecord extends AuditFields {
  seq: number;
  prev: string;
}

const FIELD_ORDER: Array<keyof AuditRecord> = [
  'seq',
  'time',
  'action',
  'user',
  'result',
  'reason',
  'caller',
  'remoteHost',
  'keyType',
  'keyFingerprint',
  'expiresAt',
  'keyPath',
  'instanceId',
  'command',
  'prev',
];

export function hashLine(line: string): string {
  return createHash('sha256').update(line, 'utf8').digest('hex');
}

/** The record's line (no newline): fixed field order, absent fields left out, one line always. */
export function sealRecord(fields: AuditFields, tip: ChainTip): { record: AuditRecord; line: string; hash: string } {
  const record = { ...fields, seq: tip.seq + 1, prev: tip.hash } as AuditRecord;
  const ordered: Record<string, unknown> = {};
  for (const k of FIELD_ORDER) if (record[k] !== undefined) ordered[k] = record[k];
  const line = JSON.stringify(ordered);
  return { record, line, hash: hashLine(line) };
}

export interface ChainTip {
  seq: number;
  hash: string;
}

export const EMPTY_TIP: ChainTip = { seq: 0, hash: GENESIS };

export type Verdict =
  | { ok: true; records: number; tip: ChainTip }
  | { ok: false; records: number /** The first sequence number that is wrong or missing. */; seq: number; line: number; reason: string };

/**
 * Check every line of the log in order. `head` is the anchor written after each append (optional:
 * a log copied elsewhere is checked without it).
 */
export function verifyChain(text: string, head?: ChainTip): Verdict {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let tip = EMPTY_TIP;
  const hashes: string[] = [];
  for (const [i, line] of lines.entries()) {
    const expectedSeq = tip.seq + 1;
    const fail = (reason: string): Verdict => ({ ok: false, records: i, seq: expectedSeq, line: i + 1, reason });
    let r: Partial<AuditRecord>;
    try {
      r = JSON.parse(line) as Partial<AuditRecord>;
    } catch {
      return fail(`line ${i + 1} is not a JSON record (edited or cut short)`);
    }
    if (typeof r !== 'object' || r === null || typeof r.seq !== 'number' || typeof r.prev !== 'string') return fail(`line ${i + 1} is not an audit record`);
    if (r.seq !== expectedSeq) {
      return fail(
        r.seq > expectedSeq
          ? `record ${expectedSeq}${r.seq - expectedSeq > 1 ? `..${r.seq - 1}` : ''} is missing (line ${i + 1} has seq ${r.seq})`
          : `line ${i + 1} has seq ${r.seq}, expected ${expectedSeq} (records reordered or repeated)`,
      );
    }
    if (r.prev !== tip.hash)
      return fail(
        `record ${r.seq} does not follow record ${tip.seq}: its prev hash differs (record ${tip.seq} was edited, or records were removed or reordered)`,
      );
    const hash = hashLine(line);
    hashes.push(hash);
    tip = { seq: r.seq, hash };
  }
  if (head) {
    if (head.seq > tip.seq)
      return {
        ok: false,
        records: lines.length,
        seq: tip.seq + 1,
        line: lines.length + 1,
        reason: `records ${tip.seq + 1}..${head.seq} are missing from the end (the head anchor says the last record is ${head.seq})`,
      };
    if (head.seq > 0 && hashes[head.seq - 1] !== head.hash)
      return { ok: false, records: lines.length, seq: head.seq, line: head.seq, reason: `record ${head.seq} differs from the one the head anchor recorded` };
  }
  return { ok: true, records: lines.length, tip };
}

/** Parse records for listing; lines that are not records are skipped (verify reports them). */
export function parseRecords(text: string): AuditRecord[] {
  const out: AuditRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const r = JSON.parse(line) as AuditRecord;
      if (typeof r === 'object' && r !== null && typeof r.seq === 'number') out.push(r);
    } catch {
      // skipped
    }
  }
  return out;
}

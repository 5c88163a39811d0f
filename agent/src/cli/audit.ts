/*! `taupage audit list | verify`: read the SSH audit trail, and check its hash chain.
 *   list [--user U] [--since T] [--json]   T: an ISO time, or an age such as 30m, 8h, 7d
 *   verify [--json]                        exit 0 intact; 1 with the first broken seq and why */
import { stat } from 'node:fs/promises';
import { parseCommandArgs } from './args.js';
import type { Io } from './io.js';
import { loadConfig } from '../config/load.js';
import { AgentError, EXIT } from '../lib/errors.js';
import { parseRecords, verifyChain, type AuditRecord } from '../audit/record.js';
import { auditLogFor } from './access-context.js';

export const AUDIT_USAGE = 'taupage audit list [--user U] [--since T] [--json] | verify [--json]';

export async function runAudit(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'list') return list(rest, io);
  if (sub === 'verify') return verify(rest, io);
  throw new AgentError('TPG_USAGE', `${sub === undefined ? 'missing subcommand' : `unknown subcommand ${sub}`}\nusage: ${AUDIT_USAGE}`);
}

/** "2026-11-26T10:00:00Z", "2026-11-26", or an age: 90s, 30m, 8h, 7d. */
export function parseSince(text: string, nowMs: number): number {
  const age = /^(\d+)([smhd])$/.exec(text);
  if (age) return nowMs - Number(age[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[age[2] as 's' | 'm' | 'h' | 'd'];
  const t = Date.parse(text);
  if (Number.isNaN(t))
    throw new AgentError('TPG_USAGE', `--since ${JSON.stringify(text)}: expected an ISO time (2026-11-26T10:00:00Z) or an age (30m, 8h, 7d)`);
  return t;
}

async function list(argv: string[], io: Io): Promise<number> {
  const { values } = parseCommandArgs(argv, { user: { type: 'string' }, since: { type: 'string' }, json: { type: 'boolean' } }, AUDIT_USAGE, {
    min: 0,
    max: 0,
  });
  const since = values.since === undefined ? undefined : parseSince(values.since, Date.now());
  const { paths } = await loadConfig({ env: io.env });
  const records = parseRecords(await auditLogFor(paths).readText()).filter(
    (r) => (values.user === undefined || r.user === values.user) && (since === undefined || Date.parse(r.time) >= since),
  );
  if (values.json) {
    for (const r of records) io.out(`${JSON.stringify(r)}\n`);
    return EXIT.OK;
  }
  if (!records.length) {
    io.err('no audit records match\n');
    return EXIT.OK;
  }
  const rows = records.map(row);
  const header = ['SEQ', 'TIME', 'ACTION', 'USER', 'RESULT', 'CALLER', 'KEY', 'EXPIRES', 'REASON'];
  const widths = header.map((h, i) => (i === header.length - 1 ? 0 : Math.max(h.length, ...rows.map((r) => r[i]!.length))));
  for (const r of [header, ...rows]) io.out(`${r.map((c, i) => (widths[i] ? c.padEnd(widths[i]!) : c)).join('  ')}\n`);
  return EXIT.OK;
}

function row(r: AuditRecord): string[] {
  return [
    String(r.seq),
    r.time,
    r.action,
    r.user ?? '-',
    r.result,
    r.caller,
    r.keyFingerprint ?? '-',
    r.expiresAt ?? '-',
    r.reason + (r.keyPath === 'tmpfs' ? ' [tmpfs]' : ''),
  ];
}

async function verify(argv: string[], io: Io): Promise<number> {
  const { values } = parseCommandArgs(argv, { json: { type: 'boolean' } }, AUDIT_USAGE, { min: 0, max: 0 });
  const { paths } = await loadConfig({ env: io.env });
  const log = auditLogFor(paths);
  const verdict = verifyChain(await log.readText(), await log.readHead());
  const st = await stat(paths.sshAuditLog).catch(() => undefined);
  const modeProblem =
    st && ((st.mode & 0o077) !== 0 || st.uid !== 0)
      ? `${paths.sshAuditLog} should be mode 0600 owned by root (is ${(st.mode & 0o777).toString(8)} uid ${st.uid})`
      : undefined;
  if (values.json) io.out(`${JSON.stringify({ ...verdict, file: paths.sshAuditLog, ...(modeProblem ? { warning: modeProblem } : {}) })}\n`);
  if (modeProblem && !values.json) io.err(`warning: ${modeProblem}\n`);
  if (verdict.ok) {
    if (!values.json) io.out(`audit trail intact: ${verdict.records} record(s), last seq ${verdict.tip.seq}\n`);
    return EXIT.OK;
  }
  if (values.json) return EXIT.FAILED;
  throw new AgentError('TPG_AUDIT_BROKEN', `audit trail broken at seq ${verdict.seq}: ${verdict.reason}`, {
    hint: `compare with the syslog copy (tag taupage-ssh); records before seq ${verdict.seq} are intact`,
    details: { seq: verdict.seq },
  });
}

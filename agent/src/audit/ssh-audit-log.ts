/*! The append-only, hash-chained SSH audit log (JSON lines, 0600 root), separate from pino logs.
 *
 * Callers hold the hook lock (lib/file-lock.ts) around `append`, so the chain never forks. An
 * append is durable (fsync) before it returns: the hook reports success only after that. When the
 * log's disk is full the record goes to a spill file on tmpfs with the same chain, and the next
 * append moves spilled records into the log, so granting keeps working and nothing is lost while
 * the machine stays up. A failed write is cut back, so the log never keeps half a line. */
import { open, readFile, unlink, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { makeDir } from '../lib/make-dir.js';
import { writeFileAtomic } from '../lib/atomic-write.js';
import { AgentError } from '../lib/errors.js';
import { EMPTY_TIP, hashLine, parseRecords, sealRecord, type AuditFields, type AuditRecord, type ChainTip } from './record.js';

export interface AuditLogPaths {
  /** The log: /var/log/taupage/ssh-audit.jsonl. */
  file: string;
  /** Records written while the disk was full (tmpfs). */
  spill: string;
  /** Last seq + hash. */
  head: string;
}

export interface Appended {
  record: AuditRecord;
  line: string;
  /** 'spill' when the log's disk was full. */
  where: 'log' | 'spill';
  /** The head anchor being written (never rejects: the anchor is a second net). */
  anchored: Promise<void>;
}

const DISK_FULL = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

export class SshAuditLog {
  constructor(private readonly paths: AuditLogPaths) {}

  /** Seal and write one record. Call with the hook lock held. */
  async append(fields: AuditFields): Promise<Appended> {
    try {
      await makeDir(dirname(this.paths.file), 0o750);
      const spilled = await this.drainSpill();
      const log = await this.logTip();
      const tip = spilled.length ? lastTip(spilled) : log;
      const sealed = sealRecord(fields, tip);
      let where: Appended['where'] = 'log';
      if (spilled.length) {
        // Records are still waiting for room in the log: keep the order, add after them.
        await appendDurably(this.paths.spill, `${sealed.line}\n`);
        where = 'spill';
      } else {
        try {
          // After a torn line (a crash mid-write) start a new line; verify reports the torn one.
          await appendDurably(this.paths.file, `${(log.torn ? '\n' : '') + sealed.line}\n`);
        } catch (e) {
          if (!DISK_FULL.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
          await mkdir(dirname(this.paths.spill), { recursive: true, mode: 0o755 });
          await appendDurably(this.paths.spill, `${sealed.line}\n`);
          where = 'spill';
        }
      }
      // The anchor is a second net; a full disk must not turn a written record into a failure.
      // The caller awaits it alongside the syslog copy.
      const anchored = writeFileAtomic(this.paths.head, `${JSON.stringify({ seq: sealed.record.seq, hash: sealed.hash })}\n`, {
        mode: 0o600,
        mkdirParents: true,
      }).catch(() => undefined);
      return { record: sealed.record, line: sealed.line, where, anchored };
    } catch (e) {
      throw new AgentError('TPG_AUDIT_WRITE_FAILED', `cannot write the SSH audit record to ${this.paths.file}: ${(e as Error).message}`, {
        cause: e,
        hint: 'free space on /var/log or fix its permissions; no access is granted without an audit record',
      });
    }
  }

  /** The whole trail in order: the log, then records still on tmpfs. */
  async readText(): Promise<string> {
    const log = (await readFile(this.paths.file, 'utf8').catch(ignoreMissing)) ?? '';
    const spill = (await readFile(this.paths.spill, 'utf8').catch(ignoreMissing)) ?? '';
    if (!spill) return log;
    const lastSeq = parseRecords(log).at(-1)?.seq ?? 0;
    const extra = spill.split('\n').filter((l) => l && (parseRecords(l)[0]?.seq ?? 0) > lastSeq);
    return log + extra.map((l) => `${l}\n`).join('');
  }

  async readHead(): Promise<ChainTip | undefined> {
    const text = await readFile(this.paths.head, 'utf8').catch(ignoreMissing);
    if (text === undefined) return undefined;
    try {
      const h = JSON.parse(text) as ChainTip;
      return typeof h.seq === 'number' && typeof h.hash === 'string' ? h : undefined;
    } catch {
      return undefined;
    }
  }

  /** The last complete line of the log (read from its end: the log only grows). */
  private async logTip(): Promise<ChainTip & { torn: boolean }> {
    const { line, torn } = await lastLine(this.paths.file);
    if (line === undefined) return { ...EMPTY_TIP, torn };
    const r = parseRecords(line)[0];
    if (!r) throw new Error(`the last line of ${this.paths.file} is not an audit record; run taupage audit verify`);
    return { seq: r.seq, hash: hashLine(line), torn };
  }

  /** Move spilled records into the log if it has room now; returns the records still spilled. */
  private async drainSpill(): Promise<Array<{ line: string; seq: number }>> {
    const text = await readFile(this.paths.spill, 'utf8').catch(ignoreMissing);
    if (!text) return [];
    const logSeq = (await this.logTip()).seq;
    const pending = text
      .split('\n')
      .filter(Boolean)
      .map((line) => ({ line, seq: parseRecords(line)[0]?.seq ?? 0 }))
      // A crash between moving and removing the spill file leaves copies already in the log.
      .filter((r) => r.seq > logSeq);
    if (pending.length) {
      try {
        await appendDurably(this.paths.file, pending.map((r) => `${r.line}\n`).join(''));
      } catch (e) {
        if (DISK_FULL.has((e as NodeJS.ErrnoException).code ?? '')) return pending;
        throw e;
      }
    }
    await unlink(this.paths.spill);
    return [];
  }
}

function lastTip(records: Array<{ line: string; seq: number }>): ChainTip {
  const last = records[records.length - 1]!;
  return { seq: last.seq, hash: hashLine(last.line) };
}

/** Append, fsync; on failure cut the file back to its old length (truncating needs no space). */
async function appendDurably(path: string, data: string): Promise<void> {
  const fh = await open(path, 'a', 0o600);
  let size = 0;
  try {
    size = (await fh.stat()).size;
    await fh.chmod(0o600);
    await fh.write(data);
    await fh.sync();
  } catch (e) {
    await fh.truncate(size).catch(() => undefined);
    await fh.close().catch(() => undefined);
    throw e;
  }
  await fh.close();
}

async function lastLine(path: string): Promise<{ line?: string; torn: boolean }> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { torn: false };
    throw e;
  }
  try {
    const { size } = await fh.stat();
    if (size === 0) return { torn: false };
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    const text = buf.toString('utf8');
    const lines = text.split('\n');
    // A line without its newline is a write cut short by a crash: chain from the one before.
    const torn = lines.pop() !== '';
    const line = lines.at(-1);
    return line === undefined ? { torn } : { line, torn };
  } finally {
    await fh.close();
  }
}

function ignoreMissing(e: unknown): undefined {
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw e;
}

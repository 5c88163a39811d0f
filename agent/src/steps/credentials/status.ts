/*! The credentials status file: where they come from, when they were last current, each file's
 * ETag and local fingerprint. Never contents. The boot writes it, the watcher reads it at start
 * (region, ETags: its first pass then costs no download) and keeps it current; people and
 * monitoring read it. */
import { readIfExists, writeFileAtomic } from '../../lib/atomic-write.js';
import type { Fingerprint } from './files.js';

export interface FileStatus {
  key: string;
  etag?: string;
  fingerprint?: Fingerprint;
  /** Last time this file was confirmed equal to the object in S3. */
  lastCurrentAt?: string;
  /** Last time the local file was (re)written. */
  lastChangedAt?: string;
  error?: { code: string; message: string; hint?: string };
}

export interface CredentialsStatus {
  bucket: string;
  applicationId: string;
  region: string;
  directory: string;
  /** true when every file was current after the last pass. */
  ok: boolean;
  lastAttemptAt?: string;
  /** Last pass after which every file was current. */
  lastSuccessAt?: string;
  files: Record<string, FileStatus>;
}

export async function readCredentialsStatus(path: string): Promise<CredentialsStatus | undefined> {
  const raw = await readIfExists(path).catch(() => undefined);
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw.toString('utf8')) as CredentialsStatus;
    return v && typeof v === 'object' && typeof v.bucket === 'string' && v.files && typeof v.files === 'object' ? v : undefined;
  } catch {
    return undefined; // a damaged status only costs one full download
  }
}

export async function writeCredentialsStatus(path: string, status: CredentialsStatus): Promise<void> {
  // Written after every pass and kept on tmpfs (/run): atomic for readers, no fsync needed.
  await writeFileAtomic(path, `${JSON.stringify(status, null, 2)}\n`, { mode: 0o644, mkdirParents: true, fsync: false });
}

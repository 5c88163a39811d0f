/*! User data bytes as EC2 stores them → text. EC2 stores at most 16 KiB, and that limit is on
 * the stored bytes: a gzipped document (cloud-init's convention, which EC2 passes through) may
 * decompress to more. Decompression is bounded, so a small gzip cannot expand into gigabytes. */
import { gunzipSync } from 'node:zlib';
import type { SourceIssue as UserDataIssue } from '../lib/schema/yaml-source.js';

/** EC2 refuses user data over 16 KiB (what it stores: the compressed size of a gzipped document). */
export const USER_DATA_MAX_BYTES = 16 * 1024;
/** A gzipped document may decompress to at most this much text. */
export const USER_DATA_MAX_DECOMPRESSED_BYTES = 256 * 1024;

export type DecodedUserData =
  | { ok: true; text: string; storedBytes: number; compressed: boolean }
  | { ok: false; storedBytes: number; compressed: boolean; issue: UserDataIssue };

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

export function decodeUserData(bytes: Buffer): DecodedUserData {
  const storedBytes = bytes.length;
  const compressed = isGzip(bytes);
  const fail = (code: string, message: string): DecodedUserData => ({
    ok: false,
    storedBytes,
    compressed,
    issue: { path: [], line: 1, column: 1, code, message, severity: 'error' },
  });
  if (storedBytes > USER_DATA_MAX_BYTES) {
    return fail(
      'TPG_UD_TOO_LARGE',
      `user data is ${storedBytes} bytes${compressed ? ' (gzipped)' : ''}; EC2 allows at most ${USER_DATA_MAX_BYTES} (16 KiB); move large values (certificates, configs) to S3 or the image${compressed ? '' : ', or gzip the document'}`,
    );
  }
  if (!compressed) return { ok: true, text: bytes.toString('utf8'), storedBytes, compressed };
  let text: Buffer;
  try {
    text = gunzipSync(bytes, { maxOutputLength: USER_DATA_MAX_DECOMPRESSED_BYTES });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      return fail(
        'TPG_UD_TOO_LARGE',
        `the gzipped user data (${storedBytes} bytes) decompresses to more than ${USER_DATA_MAX_DECOMPRESSED_BYTES / 1024} KiB; a Taupage document is a few KiB of YAML`,
      );
    }
    return fail(
      'TPG_UD_GZIP',
      `the user data starts like gzip but does not decompress (${(e as NodeJS.ErrnoException).code ?? 'corrupt data'}); gzip the whole document again`,
    );
  }
  return { ok: true, text: text.toString('utf8'), storedBytes, compressed };
}

/*! The user data as a boot reads it: the bytes and the identity document from the metadata
 * service, then decoding (gzip, the 16 KiB EC2 limit on the stored size) and the header rules.
 * No document, an empty one, or one without the `#taupage-ami-config` first line is
 * TPG_USERDATA_MISSING (not a Taupage document); one that does not validate is
 * TPG_USERDATA_INVALID, with the messages `taupage validate` prints, each also logged. A valid
 * document is kept as the team wrote it in /meta/taupage.yaml (keepBootUserData).
 *
 * Whatever could be read of a failed document is handed back unchecked (`document`), even when
 * it has syntax errors elsewhere or checking it failed, so the steps that must run anyway (the
 * CloudFormation signal) can find what they need in it. */
import { createHash } from 'node:crypto';
import type { Imds, IdentityDocument } from '../ports/imds.js';
import type { Paths } from '../config/paths.js';
import type { Logger } from '../lib/log.js';
import { AgentError, errorMessage, toAgentError } from '../lib/errors.js';
import { writeFileAtomic } from '../lib/atomic-write.js';
import { parseLenient } from '../lib/schema/yaml-source.js';
import { formatIssue, moreIssues, validateUserData, type UserDataIssue, type ValidationResult } from './validate.js';
import { decodeUserData } from './decode.js';
import type { UserData } from '../steps/schema.js';

export type BootUserData =
  | {
      ok: true;
      text: string;
      settings: UserData;
      identity: IdentityDocument;
      configHash: string;
      warnings: UserDataIssue[];
      /** The document's top-level keys as written. */
      keys: string[];
    }
  | {
      ok: false;
      error: AgentError;
      identity?: IdentityDocument;
      /** sha256 of the stored bytes, when there were any. */
      configHash?: string;
      /** The text parsed as YAML without any check, as far as it parses: for the steps that run anyway. */
      document?: unknown;
    };

/** How the user data is named in the messages and the log (`user-data:3:1: error ...`). */
export const USER_DATA_NAME = 'user-data';
/** Errors quoted in the boot's one-line message (all are logged, up to validate's cap). */
const ERRORS_IN_MESSAGE = 10;

/** Read and check the instance's user data (keepBootUserData keeps a valid one); never throws for a problem with the document or the service. */
export async function readBootUserData(imds: Imds, log: Logger, signal?: AbortSignal): Promise<BootUserData> {
  const [idR, bytesR] = await Promise.allSettled([imds.identity(signal), imds.userData(signal)]);
  const identity = idR.status === 'fulfilled' ? idR.value.document : undefined;
  const known = identity ? { identity } : {};
  if (bytesR.status === 'rejected' || idR.status === 'rejected') {
    const error = toAgentError(bytesR.status === 'rejected' ? bytesR.reason : (idR as PromiseRejectedResult).reason, 'TPG_IMDS_UNAVAILABLE');
    const bytes = bytesR.status === 'fulfilled' ? bytesR.value : undefined;
    const decoded = bytes ? decodeUserData(bytes) : undefined;
    return { ok: false, error, ...known, ...salvage(decoded?.ok ? decoded.text : undefined) };
  }
  const bytes = bytesR.value;
  if (bytes === undefined || bytes.toString('utf8').trim() === '') {
    return {
      ok: false,
      error: new AgentError('TPG_USERDATA_MISSING', bytes === undefined ? 'the instance has no user data' : 'the user data is empty', {
        hint: 'launch the instance with a #taupage-ami-config document as its user data (Senza writes it from TaupageConfig)',
      }),
      ...known,
    };
  }
  const configHash = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const decoded = decodeUserData(bytes);
  const text = decoded.ok ? decoded.text : undefined;
  const failed = (error: AgentError): BootUserData => ({ ok: false, error, configHash, ...known, ...salvage(text) });
  let result: ValidationResult;
  try {
    result = decoded.ok
      ? validateUserData(decoded.text, { requireHeader: true, storedBytes: decoded.storedBytes })
      : { valid: false, errors: [decoded.issue], warnings: [], errorCount: 1, warningCount: 0 };
  } catch (e) {
    // A bug in checking: still a failed boot that says so, and (from `document`) a FAILURE signal.
    return failed(new AgentError('TPG_INTERNAL', `checking the user data failed: ${errorMessage(e)}`, { cause: e }));
  }
  for (const w of result.warnings) log.warn({ step: USER_DATA_NAME, code: w.code, line: w.line, column: w.column }, formatIssue(USER_DATA_NAME, w));
  if (!result.valid || !result.settings) {
    for (const i of result.errors) log.error({ step: USER_DATA_NAME, code: i.code, line: i.line, column: i.column }, formatIssue(USER_DATA_NAME, i));
    const listed = result.errors.slice(0, ERRORS_IN_MESSAGE).map((i) => formatIssue(USER_DATA_NAME, i));
    const lines = `${listed.join('; ')}${moreIssues(listed.length, result.errorCount, 'error')}`;
    return failed(
      result.errors.some((i) => i.code === 'TPG_UD_HEADER')
        ? new AgentError('TPG_USERDATA_MISSING', `the user data is not a Taupage document: ${lines}`, {
            hint: 'the first line must be #taupage-ami-config; check it with taupage validate',
          })
        : new AgentError('TPG_USERDATA_INVALID', `the user data is invalid (${result.errorCount} error${result.errorCount === 1 ? '' : 's'}): ${lines}`, {
            hint: 'fix the user data (taupage validate FILE shows the same messages) and launch again',
          }),
    );
  }
  if (!identity || text === undefined) throw new AgentError('TPG_INTERNAL', 'identity or text missing after a successful read');
  return { ok: true, text, settings: result.settings, identity, configHash, warnings: result.warnings, keys: result.keys ?? [] };
}

/**
 * Keep a valid document as the team wrote it (secrets stay encrypted) in /meta/taupage.yaml,
 * replacing last boot's whole file, so keys removed from the user data do not survive a
 * stop/start. Nothing, or the error that fails the boot.
 */
export async function keepBootUserData(text: string, paths: Paths): Promise<AgentError | undefined> {
  try {
    await writeFileAtomic(paths.taupageYaml, text, { mode: 0o444, mkdirParents: true });
    return undefined;
  } catch (e) {
    return new AgentError('TPG_BOOT_FAILED', `cannot write ${paths.taupageYaml}: ${(e as Error).message}`, { cause: e });
  }
}

/** The text as YAML, unchecked and as far as it parses; nothing when no part of it does. */
function salvage(text: string | undefined): { document?: unknown } {
  const document = text ? parseLenient(text) : undefined;
  return document ? { document } : {};
}

/*! The user data as a boot reads it: the text and the identity document from the metadata
 * service, then the header rules. No document, an empty one, or one without the
 * `#taupage-ami-config` first line is TPG_USERDATA_MISSING (not a Taupage document); one that
 * does not validate is TPG_USERDATA_INVALID, with the messages `taupage validate` prints, each
 * also logged. A valid document is kept as the team wrote it in /meta/taupage.yaml.
 *
 * Whatever could be read of a failed document is handed back unchecked (`document`), so the steps
 * that must run anyway (the CloudFormation signal) can find what they need in it. */
import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import type { Imds, IdentityDocument } from '../ports/imds.js';
import type { Paths } from '../config/paths.js';
import type { Logger } from '../lib/log.js';
import { AgentError, toAgentError } from '../lib/errors.js';
import { writeFileAtomic } from '../lib/atomic-write.js';
import { formatIssue, validateUserData, type UserDataIssue } from './validate.js';
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
      /** sha256 of the text, when there was one. */
      configHash?: string;
      /** The text parsed as YAML without any check, when it parses: for the steps that run anyway. */
      document?: unknown;
    };

/** How the user data is named in the messages and the log (`user-data:3:1: error ...`). */
export const USER_DATA_NAME = 'user-data';

/** Read, check and (when valid) keep the instance's user data; never throws for a problem with the document or the service. */
export async function readBootUserData(imds: Imds, paths: Paths, log: Logger): Promise<BootUserData> {
  const [idR, textR] = await Promise.allSettled([imds.identity(), imds.userData()]);
  const identity = idR.status === 'fulfilled' ? idR.value.document : undefined;
  const known = identity ? { identity } : {};
  if (textR.status === 'rejected' || idR.status === 'rejected') {
    const error = toAgentError(textR.status === 'rejected' ? textR.reason : (idR as PromiseRejectedResult).reason, 'TPG_IMDS_UNAVAILABLE');
    return { ok: false, error, ...known, ...salvage(textR.status === 'fulfilled' ? textR.value : undefined) };
  }
  const text = textR.value;
  if (text === undefined || text.trim() === '') {
    return {
      ok: false,
      error: new AgentError('TPG_USERDATA_MISSING', text === undefined ? 'the instance has no user data' : 'the user data is empty', {
        hint: 'launch the instance with a #taupage-ami-config document as its user data (Senza writes it from TaupageConfig)',
      }),
      ...known,
    };
  }
  const configHash = `sha256:${createHash('sha256').update(text).digest('hex')}`;
  const failed = (error: AgentError): BootUserData => ({ ok: false, error, configHash, ...known, ...salvage(text) });
  const result = validateUserData(text, { requireHeader: true });
  for (const w of result.warnings) log.warn({ step: USER_DATA_NAME, code: w.code, line: w.line, column: w.column }, formatIssue(USER_DATA_NAME, w));
  if (!result.valid || !result.settings) {
    const lines = result.errors.map((i) => formatIssue(USER_DATA_NAME, i));
    for (const i of result.errors) log.error({ step: USER_DATA_NAME, code: i.code, line: i.line, column: i.column }, formatIssue(USER_DATA_NAME, i));
    return failed(
      result.errors.some((i) => i.code === 'TPG_UD_HEADER')
        ? new AgentError('TPG_USERDATA_MISSING', `the user data is not a Taupage document: ${lines.join('; ')}`, {
            hint: 'the first line must be #taupage-ami-config; check it with taupage validate',
          })
        : new AgentError('TPG_USERDATA_INVALID', `the user data is invalid (${lines.length} error${lines.length === 1 ? '' : 's'}): ${lines.join('; ')}`, {
            hint: 'fix the user data (taupage validate FILE shows the same messages) and launch again',
          }),
    );
  }
  if (!identity) throw new AgentError('TPG_INTERNAL', 'identity missing after a successful read');
  // The document as the team wrote it (secrets stay encrypted), replacing last boot's whole file,
  // so keys removed from the user data do not survive a stop/start.
  try {
    await writeFileAtomic(paths.taupageYaml, text, { mode: 0o444, mkdirParents: true });
  } catch (e) {
    return failed(new AgentError('TPG_BOOT_FAILED', `cannot write ${paths.taupageYaml}: ${(e as Error).message}`, { cause: e }));
  }
  return { ok: true, text, settings: result.settings, identity, configHash, warnings: result.warnings, keys: result.keys ?? [] };
}

/** The text as YAML, unchecked (duplicate keys allowed); nothing when it does not parse. */
function salvage(text: string | undefined): { document?: unknown } {
  if (!text) return {};
  try {
    return { document: parseYaml(text, { uniqueKeys: false }) as unknown };
  } catch {
    return {};
  }
}

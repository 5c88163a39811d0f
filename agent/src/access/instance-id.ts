/*! The instance id for audit records, without the metadata service: the SSH hook must answer in
 * well under a second and work when IMDS does not. The boot writes it into its result and status
 * files (/run/taupage); the first one that names a well-formed id wins, else "unknown". */
import { readFile } from 'node:fs/promises';

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;

/** Where the boot runner may have put it: top level, or inside the boot facts. */
const WHERE = [['instanceId'], ['instance_id'], ['instance', 'instanceId'], ['facts', 'instance', 'instanceId'], ['facts', 'instanceId']];

function pick(doc: unknown): string | undefined {
  for (const path of WHERE) {
    const v = path.reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), doc);
    if (typeof v === 'string' && INSTANCE_ID.test(v)) return v;
  }
  return undefined;
}

export async function readInstanceId(files: readonly string[]): Promise<string> {
  for (const f of files) {
    const text = await readFile(f, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    try {
      const id = pick(JSON.parse(text));
      if (id) return id;
    } catch {
      // a status file being rewritten; try the next one
    }
  }
  return 'unknown';
}

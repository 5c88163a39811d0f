// Run inside `unshare -n` by host-step.test.ts: apply a host plan (argv[2], JSON) with the real
// kernel's /proc/sys, whose net.* parameters belong to this new network namespace alone, then
// print the outcome and what the parameters read inside the namespace.
import { readFile } from 'node:fs/promises';
import { applyHost } from '../../../agent/src/steps/host/apply.js';
import type { HostPlan } from '../../../agent/src/steps/host/plan.js';
import { silentLogger } from '../../../agent/src/lib/log.js';
import type { BootContext } from '../../../agent/src/steps/context.js';

const plan = JSON.parse(process.argv[2]!) as HostPlan;
const ctx = { log: silentLogger(), signal: new AbortController().signal } as unknown as BootContext;
const outcome = await applyHost(plan, ctx).then(
  (r) => ({ ok: true, note: r.note }),
  (e: { code?: string; message?: string }) => ({ ok: false, code: e.code, message: e.message }),
);
const values: Record<string, string> = {};
for (const e of plan.sysctl?.entries ?? []) values[e.key] = (await readFile(e.file, 'utf8').catch(() => '(none)')).trim();
process.stdout.write(JSON.stringify({ outcome, values }));

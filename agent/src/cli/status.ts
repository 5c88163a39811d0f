/*! `taupage status`: how this boot went, for people (steps and durations, slowest first, like
 * `systemd-analyze blame`) and for scripts (--json, exit code). --wait blocks until it ends. */
import { processAlive } from '../lib/process-alive.js';
import { parseCommandArgs } from './args.js';
import type { Io } from './io.js';
import { loadConfig } from '../config/load.js';
import { AgentError, EXIT, isAgentError } from '../lib/errors.js';
import { readBootStatus, type BootStatus, type StepStatus } from '../engine/status.js';
import { readBootId } from '../engine/lock.js';
import { paths as pathsUnder, type Paths } from '../config/paths.js';
import type { KeyCoverage } from '../steps/step.js';

const USAGE = 'taupage status [--json] [--wait [--timeout SECONDS]] [--config FILE]';

export type StatusView = 'none' | 'running' | 'success' | 'failed' | 'died';

export async function runStatus(argv: string[], io: Io): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    { json: { type: 'boolean' }, wait: { type: 'boolean' }, timeout: { type: 'string' }, config: { type: 'string' }, 'poll-ms': { type: 'string' } },
    USAGE,
    { min: 0, max: 0 },
  );
  const timeoutS = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeoutS !== undefined && !(timeoutS >= 0)) throw new AgentError('TPG_USAGE', `--timeout wants a number of seconds\nusage: ${USAGE}`);
  const pollMs = Math.max(10, Number(values['poll-ms'] ?? 250) || 250);
  const paths = await statusPaths(io, values.config);

  const until = timeoutS === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutS * 1000;
  let current = await look(paths);
  while (values.wait && (current.view === 'running' || current.view === 'none') && Date.now() < until) {
    await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(0, until - Date.now()))));
    current = await look(paths);
  }
  const { view, status } = current;
  if (values.json) io.out(`${JSON.stringify(status ? { ...status, view } : { view }, null, 2)}\n`);
  else io.out(render(view, status, paths));
  return view === 'success' ? EXIT.OK : view === 'failed' || view === 'died' ? EXIT.FAILED : EXIT.RUNNING;
}

/** Where the status is; with an invalid agent config, under TAUPAGE_ROOT (the boot recorded that failure there). */
async function statusPaths(io: Io, file: string | undefined): Promise<Paths> {
  try {
    return (await loadConfig({ env: io.env, ...(file ? { file } : {}) })).paths;
  } catch (e) {
    if (!isAgentError(e) || e.code !== 'TPG_CONFIG_INVALID') throw e;
    io.err(`taupage status: the agent config is invalid (${e.message.split('\n')[0]}); reading the status under ${io.env.TAUPAGE_ROOT || '/'}\n`);
    return pathsUnder(io.env.TAUPAGE_ROOT || '/');
  }
}

async function look(paths: Paths): Promise<{ view: StatusView; status?: BootStatus }> {
  const status = await readBootStatus(paths);
  if (!status) return { view: 'none' };
  // A file from an earlier boot (a /run that survived a reboot) says nothing about this one.
  if (status.bootId !== (await readBootId(paths))) return { view: 'none' };
  if (status.state === 'ended') return { view: status.outcome === 'success' ? 'success' : 'failed', status };
  return { view: processAlive(status.pid) ? 'running' : 'died', status };
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(3)}s`;
  return `${Math.floor(ms / 60_000)}min ${((ms % 60_000) / 1000).toFixed(3)}s`;
}

export function render(view: StatusView, s: BootStatus | undefined, paths: Paths, now = Date.now()): string {
  if (!s) return `No boot status for this boot yet (${paths.statusFile}); taupage boot has not started.\n`;
  const lines: string[] = [];
  lines.push(`boot ${s.bootId}${s.instanceId ? `  instance ${s.instanceId}` : ''}${s.configHash ? `  config ${s.configHash.slice(0, 19)}` : ''}`);
  const elapsed = formatDuration(s.durationMs ?? now - Date.parse(s.startedAt));
  if (view === 'running') lines.push(`state: running for ${elapsed} (deadline ${s.deadline})`);
  else if (view === 'died') lines.push(`state: failed: the boot process (pid ${s.pid}) ended without finishing; see its log (journalctl -u taupage-boot)`);
  else lines.push(`state: ${view} in ${elapsed}${s.errorCode ? `: ${s.errorCode}` : ''}`);
  if (s.message) lines.push(`  ${s.message}`);
  if (s.facts.signal !== undefined)
    lines.push(
      `signal: ${String(s.facts.signal)} ${s.facts.signalSent === false ? 'NOT sent (see the signal step)' : s.facts.signalSent ? 'sent' : 'sending'}`,
    );
  if (s.imageDigest) lines.push(`image: ${s.imageDigest}`);
  if (s.keys) lines.push(...keyLines(s.keys));
  lines.push('');
  const rank = (x: StepStatus) => (x.outcome === 'running' ? Number.POSITIVE_INFINITY : (x.durationMs ?? -1));
  const steps = [...s.steps].sort((a, b) => rank(b) - rank(a));
  const idW = Math.max(...steps.map((x) => x.id.length), 4);
  for (const x of steps) {
    const d =
      x.outcome === 'running' && x.startedAt
        ? `${formatDuration(now - Date.parse(x.startedAt))}+`
        : x.outcome === 'pending' || x.outcome === 'skipped'
          ? '-'
          : formatDuration(x.durationMs);
    const detail = x.outcome === 'failed' ? `${x.errorCode ?? ''}: ${x.message ?? ''}` : (x.note ?? '');
    lines.push(`${d.padStart(12)} ${x.id.padEnd(idW)}  ${x.outcome.padEnd(8)}${detail ? `  ${detail}` : ''}`.trimEnd());
    for (const w of x.warnings ?? []) lines.push(`${''.padStart(12)} ${''.padEnd(idW)}  warning: ${w}`);
  }
  return `${lines.join('\n')}\n`;
}

/** What this image does with the user data's keys, as `taupage status` and `taupage plan` print it. */
export function keyLines(k: KeyCoverage): string[] {
  const lines = [`keys applied: ${k.applied.join(', ') || '(none)'}`];
  if (k.ignored.length) lines.push(`keys ignored (accepted, not supported by this image): ${k.ignored.join(', ')}`);
  if (k.notApplied.length) lines.push(`keys NOT applied by this image (the boot fails with TPG_NOT_APPLIED): ${k.notApplied.join(', ')}`);
  return lines;
}

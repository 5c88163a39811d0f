/*! Boot timings in Prometheus text format for node_exporter's textfile collector: per step
 * duration and outcome, whether the boot succeeded, and the time from agent start to healthy. */
import { readFile } from 'node:fs/promises';
import type { Paths } from '../config/paths.js';
import { writeFileAtomic } from '../lib/atomic-write.js';
import type { BootStatus } from './status.js';

function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function num(v: number): string {
  return Number.isFinite(v) ? String(Math.round(v * 1000) / 1000) : 'NaN';
}

/**
 * `agentStartedAt`: when the agent process started (ms since epoch); `uptimeAtEnd`: seconds since
 * the kernel started when the boot ended (instance start to healthy), when known.
 */
export function renderMetrics(s: BootStatus, agentStartedAt: number, uptimeAtEnd?: number): string {
  const out: string[] = [];
  const metric = (name: string, help: string, rows: Array<[Record<string, string>, number]>) => {
    if (!rows.length) return;
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, value] of rows) {
      const l = Object.entries(labels)
        .map(([k, v]) => `${k}="${label(v)}"`)
        .join(',');
      out.push(`${name}${l ? `{${l}}` : ''} ${num(value)}`);
    }
  };
  const ran = s.steps.filter((x) => x.outcome !== 'pending');
  metric(
    'taupage_boot_step_duration_seconds',
    'How long each step of the last boot took.',
    ran.filter((x) => x.durationMs !== undefined && x.outcome !== 'skipped').map((x) => [{ step: x.id }, x.durationMs! / 1000]),
  );
  metric(
    'taupage_boot_step_outcome',
    'Outcome of each step of the last boot (1 for the outcome it had).',
    ran.map((x) => [{ step: x.id, outcome: x.outcome }, 1]),
  );
  if (s.state === 'ended') {
    const end = Date.parse(s.endedAt!);
    metric('taupage_boot_success', '1 when the last boot succeeded, 0 when it failed.', [[{}, s.outcome === 'success' ? 1 : 0]]);
    metric('taupage_boot_duration_seconds', 'From agent start to the end of the last boot.', [[{}, (end - agentStartedAt) / 1000]]);
    if (s.outcome === 'success')
      metric('taupage_boot_time_to_healthy_seconds', 'From agent start until the last boot succeeded.', [[{}, (end - agentStartedAt) / 1000]]);
    if (uptimeAtEnd !== undefined)
      metric('taupage_boot_end_uptime_seconds', 'Seconds since the kernel started when the last boot ended (instance start to healthy when it succeeded).', [
        [{}, uptimeAtEnd],
      ]);
    metric('taupage_boot_end_timestamp_seconds', 'When the last boot ended (Unix time).', [[{}, end / 1000]]);
  }
  metric('taupage_boot_info', 'The last boot: ids and error code as labels.', [
    [{ boot_id: s.bootId, instance_id: s.instanceId ?? '', error_code: s.errorCode ?? '' }, 1],
  ]);
  return `${out.join('\n')}\n`;
}

export async function writeMetrics(paths: Paths, s: BootStatus, agentStartedAt: number): Promise<void> {
  const uptime = Number((await readFile('/proc/uptime', 'utf8').catch(() => '')).split(' ')[0]);
  // Atomic for node_exporter, not fsynced: it is rewritten by every boot, and a crash that loses
  // it loses nothing the next boot does not write again (the fsync cost every boot's end ~10 ms).
  await writeFileAtomic(paths.metricsFile, renderMetrics(s, agentStartedAt, uptime > 0 ? uptime : undefined), {
    mode: 0o644,
    mkdirParents: true,
    fsync: false,
  });
}

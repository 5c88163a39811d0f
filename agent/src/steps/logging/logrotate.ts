/*! logrotate files for application.log and the custom logs, rendered from the plan by pure code.
 * Size-bound: `maxsize` rotates a log as soon as it is larger (the image runs logrotate every
 * 5 minutes: systemd/logrotate.timer.d), and at the interval otherwise. logrotate runs as root;
 * the custom logs' directory is the application's, so their block rotates as its owner (`su`):
 * a file swapped for a link or a FIFO there cannot make root act on it. */
import { AgentError } from '../../lib/errors.js';
import { isConfigSafe } from '../../values/text.js';
import { HEADER } from './rsyslog.js';
import type { LoggingPlan, RotationPlan } from './plan.js';

/** Debian's script that makes rsyslog reopen its files (HUP through systemd). */
const RSYSLOG_ROTATE = '/usr/lib/rsyslog/rsyslog-rotate';

interface LogrotateFile {
  path: string;
  content: string;
  /** Whom logrotate rotates as (its `su`), when not root. */
  runAs?: RotationPlan['runAs'];
}

export function renderLogrotate(plan: LoggingPlan): LogrotateFile[] {
  const { dir, application, custom } = plan.rotation;
  const files: LogrotateFile[] = [{ path: `${dir}/taupage-application`, content: block(application, 'rsyslog writes it') }];
  if (custom)
    files.push({
      path: `${dir}/taupage-custom`,
      content: block(custom, "the application writes them; rotated as their directory's owner"),
      ...(custom.runAs ? { runAs: custom.runAs } : {}),
    });
  return files;
}

function block(r: RotationPlan, writer: string): string {
  if (!isConfigSafe(r.path) || /\s/.test(r.path)) throw new AgentError('TPG_LOGGING_FAILED', `${r.path} cannot be written into a logrotate file`);
  const lines = [
    HEADER,
    `# ${r.path}: ${writer}.`,
    `${r.path} {`,
    // Numeric ids: logrotate takes them when they have an account (getpwuid, getgrgid).
    ...(r.runAs ? [`  su ${r.runAs.uid} ${r.runAs.gid}`] : []),
    `  ${r.interval}`,
    `  maxsize ${logrotateSize(r.maxSize)}`,
    `  rotate ${r.rotate}`,
    '  missingok',
    '  notifempty',
  ];
  if (r.compress) lines.push('  compress');
  if (r.compress && r.delaycompress) lines.push('  delaycompress');
  if (r.copytruncate) lines.push('  copytruncate');
  else lines.push('  sharedscripts', '  postrotate', `    ${RSYSLOG_ROTATE}`, '  endscript');
  lines.push('}', '');
  return lines.join('\n');
}

/** logrotate knows k, M and G (not m or g). */
function logrotateSize(size: string): string {
  const m = /^([0-9]+)([kKmMgG]?)$/.exec(size);
  if (!m) throw new AgentError('TPG_LOGGING_FAILED', `${size} is not a size logrotate understands`);
  const unit = m[2]!.toLowerCase();
  return `${m[1]}${unit === 'k' ? 'k' : unit.toUpperCase()}`;
}

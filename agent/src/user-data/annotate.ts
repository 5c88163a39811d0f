/*! `taupage validate --annotate`: the user's file with each problem marked under its line (as
 * `cloud-init schema --annotate` does), as YAML comments so the output still parses. */
import { formatKeyPath, type UserDataIssue } from './validate.js';

export function annotate(text: string, issues: UserDataIssue[]): string {
  const lines = text.replace(/\n$/, '').split('\n');
  const byLine = new Map<number, Array<{ issue: UserDataIssue; label: string }>>();
  let e = 0;
  let w = 0;
  const labelled = issues.map((issue) => ({ issue, label: issue.severity === 'error' ? `E${++e}` : `W${++w}` }));
  for (const l of labelled) {
    const line = Math.min(Math.max(1, l.issue.line), Math.max(1, lines.length));
    byLine.set(line, [...(byLine.get(line) ?? []), l]);
  }
  const out: string[] = [];
  lines.forEach((text, i) => {
    out.push(text);
    for (const { issue, label } of byLine.get(i + 1) ?? []) {
      const pad = issue.column >= 3 ? ' '.repeat(issue.column - 2) : '';
      out.push(`#${pad}^ ${label} ${issue.code} ${formatKeyPath(issue.path)}: ${issue.message}`);
    }
  });
  const errors = labelled.filter((l) => l.issue.severity === 'error');
  const warnings = labelled.filter((l) => l.issue.severity === 'warning');
  if (errors.length)
    out.push('', '# Errors: -------------', ...errors.map(({ issue, label }) => `# ${label}: (${formatKeyPath(issue.path)}) ${issue.message}`));
  if (warnings.length)
    out.push('', '# Warnings: -----------', ...warnings.map(({ issue, label }) => `# ${label}: (${formatKeyPath(issue.path)}) ${issue.message}`));
  return `${out.join('\n')}\n`;
}

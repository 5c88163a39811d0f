#!/usr/bin/env node
// The agent's JSON log lines (stdin) as short lines for people watching a boot: time since the
// first line, the step, the message, and a few telling fields. Used by scripts/demo.
import { createInterface } from 'node:readline';

const tty = process.stdout.isTTY;
const paint = (code, text) => (tty ? `\x1b[${code}m${text}\x1b[0m` : text);
const SHOWN = ['image', 'digest', 'durationMs', 'errorCode', 'note', 'layers', 'bytes', 'http', 'container', 'file', 'etag', 'values'];
let first;

for await (const line of createInterface({ input: process.stdin })) {
  let l;
  try {
    l = JSON.parse(line);
  } catch {
    console.log(`    ${line}`);
    continue;
  }
  if (l.level === 'debug' || l.level === 'trace') continue;
  const at = Date.parse(l.time);
  first ??= at;
  const t = `+${((at - first) / 1000).toFixed(2)}s`.padStart(8);
  const who = (l.step ?? l.service ?? 'boot').toString().padEnd(11);
  const extra = SHOWN.filter((k) => l[k] !== undefined && !(k === 'durationMs' && l[k] === 0) && !String(l.msg).includes(String(l[k])))
    .map((k) => `${k}=${typeof l[k] === 'object' ? JSON.stringify(l[k]) : l[k]}`)
    .join(' ');
  const msg = l.level === 'error' || l.level === 'fatal' ? paint('31', l.msg) : l.level === 'warn' ? paint('33', l.msg) : l.msg;
  console.log(`  ${paint('2', t)}  ${paint('36', who)} ${msg}${extra ? paint('2', `  (${extra})`) : ''}`);
}

/*! In-process boots against the local cloud, in a scratch root: the same runBoot the CLI runs,
 * with its JSON log lines captured, and the files it wrote at hand for assertions.
 *
 * These boots test the engine (status, lock, signal, KMS, deadlines, reboots), so by default the
 * container step is planned but its effects are left out (ENGINE_STEPS) and no Docker engine is
 * needed. The logging step runs for real, with an rsyslogd of the boot's root (harness/rsyslog.ts). Whole boots with the real container: test/e2e/full-boot.test.ts. */
import { readFile } from 'node:fs/promises';
import { configFromText } from '../../agent/src/config/load.js';
import { createLogger } from '../../agent/src/lib/log.js';
import { Scrubber } from '../../agent/src/lib/scrub.js';
import { runBoot, type BootOptions, type BootRun } from '../../agent/src/engine/boot.js';
import type { BootStatus } from '../../agent/src/engine/status.js';
import type { LocalCloud } from '../fakes/local-cloud.js';
import { steps as bootGraph } from '../../agent/src/steps/index.js';
import type { AnyStep } from '../../agent/src/steps/step.js';
import type { PortFactory, RegionPorts } from '../../agent/src/ports/index.js';
import { realPorts } from '../../agent/src/adapters/index.js';
import { scratchRoot } from './scratch.js';
import { jsonLines } from './log-lines.js';
import { testRsyslog, type TestRsyslog } from './rsyslog.js';

export const CONTAINER_LEFT_OUT = 'container effects left out of this engine test';

/** The container step of the boot graph with `apply` as its effects and no prepare (no Docker, no registry). */
export function containerStep(apply: NonNullable<AnyStep['apply']>): AnyStep {
  const { prepare: _prepare, ...step } = bootGraph.find((s) => s.id === 'container')!;
  return { ...step, apply };
}

/** The boot graph with the container step's effects left out (its plan still runs). */
export const ENGINE_STEPS: AnyStep[] = bootGraph.map((s) => (s.id === 'container' ? containerStep(async () => ({ note: CONTAINER_LEFT_OUT })) : s));

const rsyslogs = new Map<string, TestRsyslog>();

export interface HarnessBoot {
  run: BootRun;
  root: string;
  /** Raw JSON log lines as written. */
  lines: string[];
  logs: Array<Record<string, unknown>>;
  status: BootStatus;
  result?: BootStatus;
}

/** Fast retries for tests; merge more agent.yaml text after it. */
export const FAST_CONFIG = `
metadata:
  timeout_ms: 500
  deadline_seconds: 5
  retry_base_ms: 5
aws:
  max_attempts: 5
  retry_base_ms: 5
  request_timeout_ms: 3000
`;

export async function bootOnce(
  cloud: LocalCloud,
  options: {
    root?: string;
    agentYaml?: string;
    steps?: BootOptions['steps'];
    ports?: Partial<RegionPorts>;
    env?: Record<string, string>;
    stop?: AbortSignal;
  } = {},
): Promise<HarnessBoot> {
  const root = options.root ?? (await scratchRoot());
  const env: Record<string, string> = { ...cloud.env(), TAUPAGE_ROOT: root, ...options.env };
  // The logging step restarts an rsyslogd of this root (as systemctl restart rsyslog does in the
  // image): a child of this process, the same one for every boot of the root.
  const rs = rsyslogs.get(root) ?? (await testRsyslog(root));
  rsyslogs.set(root, rs);
  // The SDK reads credentials from the process environment: the instance role's keys, as env vars.
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] as const)
    if (env[k]) process.env[k] = env[k];
  const { config, paths } = configFromText(options.agentYaml ?? FAST_CONFIG, 'agent.yaml', env);
  const lines: string[] = [];
  const scrubber = new Scrubber();
  const log = createLogger({ level: 'debug', destination: scrubber.stream({ write: (l: string) => lines.push(l) }) });
  const run = await runBoot({
    config,
    paths,
    log,
    scrubber,
    steps: options.steps ?? ENGINE_STEPS,
    ports: withPorts(realPorts({ config, log }), { logDaemons: rs.logDaemons, ...options.ports }),
    ...(options.stop ? { stop: options.stop } : {}),
  });
  const read = async (f: string) => {
    try {
      return JSON.parse(await readFile(f, 'utf8')) as BootStatus;
    } catch {
      return undefined;
    }
  };
  const status = (await read(paths.statusFile))!;
  const result = await read(paths.resultFile);
  return {
    run,
    root,
    lines,
    logs: jsonLines(lines.join('')),
    status,
    ...(result ? { result } : {}),
  };
}

export function stepOf(s: BootStatus, id: string) {
  return s.steps.find((x) => x.id === id);
}

/** The real ports with some of a boot's replaced (a test's stand-ins). */
function withPorts(real: PortFactory, ports: Partial<RegionPorts> = {}): PortFactory {
  return { ...real, forRegion: (region) => ({ ...real.forRegion(region), ...ports }) };
}

/*! The effects of the last two steps: tell CloudFormation how the boot went (a `finally` step:
 * it runs after failures too), and, for batch instances, power off once the application exits
 * (an `after` step: only after a successful boot, outside the boot deadline). */
import { spawn } from 'node:child_process';
import type { EndContext } from '../context.js';
import type { StepReport } from '../step.js';
import type { Logger } from '../../lib/log.js';
import { AgentError, toAgentError } from '../../lib/errors.js';
import { CONTAINER_NAME } from '../container/plan.js';
import type { ShutdownPlan, SignalPlan } from './plan.js';

/** SUCCESS or FAILURE as the boot went so far, recorded in the status (`signal`, `signalSent`);
 * a failure to send it is TPG_SIGNAL_FAILED. */
export async function applySignal(plan: SignalPlan, ctx: EndContext): Promise<StepReport> {
  const status: 'SUCCESS' | 'FAILURE' = ctx.outcome().outcome === 'success' ? 'SUCCESS' : 'FAILURE';
  const input = { stack: plan.stack, resource: plan.resource, uniqueId: ctx.facts.instance.instanceId, status };
  ctx.record('signal', input.status);
  try {
    await ctx.ports.stackSignal.signal(input, ctx.signal);
  } catch (e) {
    ctx.record('signalSent', false);
    throw toAgentError(e, 'TPG_SIGNAL_FAILED');
  }
  ctx.record('signalSent', true);
  ctx.log.info(input, `signalled ${input.status} to CloudFormation ${input.stack}/${input.resource}`);
  return { note: `${status} sent to ${plan.stack}/${plan.resource}` };
}

export async function applyShutdown(plan: ShutdownPlan, ctx: EndContext): Promise<StepReport> {
  ctx.log.info({ mode: plan.mode }, `shutdown: ${plan.mode}: waiting for the application container to exit`);
  const exitCode = await ctx.ports.containerRuntime.waitForExit(CONTAINER_NAME, ctx.signal);
  ctx.record('applicationExitCode', exitCode);
  if (plan.mode === 'on-success' && exitCode !== 0) {
    ctx.log.warn({ exitCode }, `the application exited with ${exitCode}; shutdown: on-success, so the instance stays up`);
    return { note: `application exited with ${exitCode}; on-success: instance left running` };
  }
  ctx.log.info({ exitCode, command: plan.command }, `the application exited with ${exitCode}; running ${plan.command.join(' ')}`);
  await runShutdownCommand(plan.command, exitCode, ctx.log, ctx.signal);
  return { note: `application exited with ${exitCode}; ran ${plan.command.join(' ')}` };
}

/** Run the power-off command; the application's exit code is in TAUPAGE_APP_EXIT_CODE. */
function runShutdownCommand(command: string[], exitCode: number, log: Logger, signal: AbortSignal): Promise<void> {
  const [file, ...args] = command;
  return new Promise((resolve, reject) => {
    const child = spawn(file!, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TAUPAGE_APP_EXIT_CODE: String(exitCode) }, signal });
    let output = '';
    const collect = (b: Buffer) => {
      output = (output + b.toString('utf8')).slice(-2_000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (e) =>
      reject(
        new AgentError('TPG_SHUTDOWN_FAILED', `the shutdown command ${file} could not be started: ${e.message}`, {
          cause: e,
          hint: 'set shutdown.command in agent.yaml to a command that exists',
        }),
      ),
    );
    child.on('close', (code, sig) => {
      if (output.trim()) log.info({ output: output.trim() }, 'shutdown command output');
      if (code === 0) resolve();
      else
        reject(
          new AgentError(
            'TPG_SHUTDOWN_FAILED',
            `the shutdown command ${command.join(' ')} ${sig ? `was killed by ${sig}` : `exited with ${code}`}${output.trim() ? `: ${output.trim().split('\n').pop()}` : ''}`,
          ),
        );
    });
  });
}

/*! CloudFormation signal and batch shutdown, decided from the user data. */
import type { PlanInput, StepPlan } from '../../engine/step.js';

export interface SignalPlan extends StepPlan {
  stack: string;
  resource: string;
  /** The instance id; known at boot. */
  uniqueId: 'instance-id';
}

export interface ShutdownPlan extends StepPlan {
  mode: 'on-exit' | 'on-success';
  command: string[];
}

export function planSignal({ settings: s }: PlanInput): SignalPlan | null {
  if (!s.notify_cfn) return null;
  return { stack: s.notify_cfn.stack, resource: s.notify_cfn.resource, uniqueId: 'instance-id' };
}

export function planShutdown({ settings: s, config }: PlanInput): ShutdownPlan | null {
  if (s.shutdown === 'never') return null;
  return { mode: s.shutdown, command: config.shutdown.command };
}

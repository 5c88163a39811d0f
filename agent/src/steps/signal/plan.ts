/*! CloudFormation signal and batch shutdown, decided from the user data. */
import type { PlanInput, StepPlan } from '../step.js';
import { salvageNotifyCfn } from './schema.js';

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

/** A boot whose user data did not validate still tells CloudFormation, when its notify_cfn can be read. */
export function fallbackSignal(document: unknown): SignalPlan | null {
  const target = salvageNotifyCfn(document);
  return target ? { ...target, uniqueId: 'instance-id' } : null;
}

export function planShutdown({ settings: s, config }: PlanInput): ShutdownPlan | null {
  if (s.shutdown === 'never') return null;
  return { mode: s.shutdown, command: config.shutdown.command };
}

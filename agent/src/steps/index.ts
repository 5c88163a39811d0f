/*! The boot graph: every step, what it needs, in one place. Steps whose needs are met run
 * concurrently. The container's trust check and pull (its prepare) start as soon as the user data
 * is valid, while it is still being written to /meta/taupage.yaml; every other step starts once it
 * is written (and the pull is under way), and creating and starting the container wait for the
 * volumes, host settings, logging and credentials. The signal and shutdown come last (their phases: see StepPhase in step.ts). */
import { checkStepGraph, type AnyStep } from './step.js';
import { planContainer } from './container/plan.js';
import { applyContainer, prepareContainer } from './container/apply.js';
import { planCredentials } from './credentials/plan.js';
import { applyCredentials } from './credentials/apply.js';
import { planLogging } from './logging/plan.js';
import { applyLogging } from './logging/apply.js';
import { planSsh } from './ssh/plan.js';
import { applySsh } from './ssh/apply.js';
import { planDisks } from './disks/plan.js';
import { applyDisks } from './disks/apply.js';
import { planHost } from './host/plan.js';
import { applyHost } from './host/apply.js';
import { containerKeys } from './container/schema.js';
import { credentialsKeys } from './credentials/schema.js';
import { loggingKeys } from './logging/schema.js';
import { sshKeys } from './ssh/schema.js';
import { disksKeys } from './disks/schema.js';
import { hostKeys } from './host/schema.js';
import { fallbackSignal, planSignal, planShutdown } from './signal/plan.js';
import { applySignal, applyShutdown } from './signal/apply.js';

const keys = (fragment: object) => Object.keys(fragment);

export const steps: AnyStep[] = [
  { id: 'host', title: 'Host settings (sysctl, sysfs, routing)', needs: [], keys: keys(hostKeys), plan: planHost, apply: applyHost },
  { id: 'ssh', title: 'SSH daemon settings', needs: [], keys: keys(sshKeys), plan: planSsh, apply: applySsh },
  { id: 'logging', title: 'Log routing and shipping', needs: [], keys: keys(loggingKeys), plan: planLogging, apply: applyLogging },
  { id: 'disks', title: 'Volumes and mounts', needs: [], keys: keys(disksKeys), plan: planDisks, apply: applyDisks },
  { id: 'credentials', title: 'Mint credentials', needs: [], keys: keys(credentialsKeys), plan: planCredentials, apply: applyCredentials },
  {
    id: 'container',
    title: 'Application container',
    // prepare (reuse decision, Pier One trust check, pull, KMS values) needs none of these and
    // starts at once; apply (create, start, health) waits for them. A need that fails stops the pull.
    needs: ['credentials', 'disks', 'host', 'logging'],
    keys: keys(containerKeys),
    plan: planContainer,
    prepare: prepareContainer,
    apply: applyContainer,
  },
  // finally: runs after every boot step has ended, also when one failed (engine/runner.ts), and
  // with its fallback plan when the user data is invalid.
  {
    id: 'signal',
    title: 'CloudFormation signal',
    needs: ['container'],
    phase: 'finally',
    keys: ['notify_cfn'],
    plan: planSignal,
    fallback: fallbackSignal,
    apply: applySignal,
  },
  // after: once the boot succeeded and its result is recorded; no boot deadline.
  {
    id: 'shutdown',
    title: 'Shutdown after the application exits',
    needs: ['signal'],
    phase: 'after',
    keys: ['shutdown'],
    plan: planShutdown,
    apply: applyShutdown,
  },
];

checkStepGraph(steps);

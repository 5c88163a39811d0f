/*! A deadline as the boot hands it to the adapters: a signal that aborts `ms` from now and carries
 * that deadline for every retry loop under it (lib/retry deadlineSignal). `dispose()` clears it. */
import { deadlineSignal } from '../../agent/src/lib/retry.js';
import { AgentError } from '../../agent/src/lib/errors.js';

export const deadlineIn = (ms: number) => deadlineSignal(Date.now() + ms, { reason: () => new AgentError('TPG_BOOT_DEADLINE', 'the test deadline passed') });

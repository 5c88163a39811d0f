/*! User-data keys for telling CloudFormation the outcome and for batch shutdown. */
import { INVALID, isPlainMapping, t } from '../../lib/schema/types.js';
import { singleLine } from '../../values/text.js';

const target = {
  stack: singleLine({ maxLength: 128 }).required().describe('CloudFormation stack name.'),
  resource: singleLine({ maxLength: 255 }).required().describe('Logical id of the resource to signal (the auto scaling group).'),
};

export const signalKeys = {
  notify_cfn: t
    .object(target, { unknownKeys: 'error' })
    .describe('Signal SUCCESS or FAILURE for this instance to a CloudFormation resource (creation/update policy).'),
  shutdown: t
    .enum(['never', 'on-exit', 'on-success'])
    .default('never')
    .describe(
      'Batch instances: after a successful boot, wait for the application container to exit, then power off always (on-exit) or only when it exited 0 (on-success).',
    ),
};

/** `notify_cfn` from a document that did not validate, by the same rules for stack and resource
 * (other problems in it, such as an unknown key, do not matter here): enough to tell CloudFormation
 * that the boot failed. */
export function salvageNotifyCfn(document: unknown): { stack: string; resource: string } | undefined {
  const n = isPlainMapping(document) ? document.notify_cfn : undefined;
  if (!isPlainMapping(n)) return undefined;
  const quiet = { report: () => undefined };
  const stack = target.stack.check(n.stack, ['notify_cfn', 'stack'], quiet);
  const resource = target.resource.check(n.resource, ['notify_cfn', 'resource'], quiet);
  return stack === INVALID || resource === INVALID ? undefined : { stack, resource };
}

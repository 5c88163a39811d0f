/*! The StackSignal port over @aws-sdk/client-cloudformation: SignalResource, retried.
 * CloudFormation refusing the signal (ValidationError: wrong stack or resource, or the stack no
 * longer waits) fails at once; throttling and network errors are retried with jitter. */
import { CloudFormationClient, SignalResourceCommand } from '@aws-sdk/client-cloudformation';
import type { StackSignal } from '../../ports/stack-signal.js';
import { callAws, sdkClientConfig, type AwsCallOptions } from './sdk.js';

export class CfnAdapter implements StackSignal {
  private readonly client: CloudFormationClient;

  constructor(private readonly o: AwsCallOptions) {
    this.client = new CloudFormationClient(sdkClientConfig(o));
  }

  async signal(input: { stack: string; resource: string; uniqueId: string; status: 'SUCCESS' | 'FAILURE' }, signal?: AbortSignal): Promise<void> {
    const what = `CloudFormation SignalResource ${input.status} to ${input.stack}/${input.resource}`;
    await callAws(
      what,
      this.o,
      (sig) =>
        this.client.send(
          new SignalResourceCommand({ StackName: input.stack, LogicalResourceId: input.resource, UniqueId: input.uniqueId, Status: input.status }),
          { abortSignal: sig },
        ),
      (info, attempts) => ({
        code: 'TPG_SIGNAL_FAILED',
        message: info.retriable
          ? `${what} failed after ${attempts} attempts: ${info.message}`
          : `CloudFormation refused the ${input.status} signal to ${input.stack}/${input.resource}: ${info.name === info.message ? info.name : `${info.name}: ${info.message}`}`,
        hint: info.retriable
          ? 'CloudFormation could not be reached from the instance (network, throttling); the stack waits until its signal timeout'
          : 'check notify_cfn: stack must be the stack name and resource the logical id of the resource with a CreationPolicy/UpdatePolicy, the stack must still be waiting for signals, and the instance role needs cloudformation:SignalResource',
      }),
      signal,
    );
  }

  /** Resolve credentials ahead of the signal (on EC2: the instance role, from IMDS). */
  async warm(): Promise<void> {
    await this.client.config.credentials().catch(() => undefined);
  }

  close(): void {
    this.client.destroy();
  }
}

export function createStackSignal(o: AwsCallOptions): CfnAdapter {
  return new CfnAdapter(o);
}

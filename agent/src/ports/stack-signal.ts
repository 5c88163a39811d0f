/*! Telling CloudFormation how the boot went. Implemented over @aws-sdk/client-cloudformation. */

export interface StackSignal {
  signal(input: { stack: string; resource: string; uniqueId: string; status: 'SUCCESS' | 'FAILURE' }, signal?: AbortSignal): Promise<void>;
}

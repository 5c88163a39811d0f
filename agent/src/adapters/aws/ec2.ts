/*! The Ec2Volumes port over @aws-sdk/client-ec2: DescribeVolumes, AttachVolume, DescribeTags,
 * DeleteTags. Throttling (RequestLimitExceeded), 5xx and network errors are retried with full
 * jitter until the caller's deadline (the boot's); a refusal (permissions, a bad device name, a
 * volume in the wrong state) fails at once with the EC2 error code in the message, so the caller
 * can tell "in use" from "denied". */
import { AttachVolumeCommand, DeleteTagsCommand, DescribeTagsCommand, DescribeVolumesCommand, EC2Client, type Volume } from '@aws-sdk/client-ec2';
import type { CallOptions, EbsVolume, Ec2Volumes } from '../../ports/ec2-volumes.js';
import { deviceTwins } from '../../values/device-name.js';
import { callAws, sdkClientConfig, type AwsCallOptions, type AwsErrorInfo } from './sdk.js';

export class Ec2Adapter implements Ec2Volumes {
  private readonly client: EC2Client;

  constructor(private readonly o: AwsCallOptions) {
    this.client = new EC2Client(sdkClientConfig(o));
  }

  async findByName(name: string, availabilityZone: string, options: CallOptions = {}): Promise<EbsVolume[]> {
    const out = await this.call(
      `EC2 DescribeVolumes Name=${name} in ${availabilityZone}`,
      (sig) =>
        this.client.send(
          new DescribeVolumesCommand({
            Filters: [
              { Name: 'tag:Name', Values: [name] },
              { Name: 'availability-zone', Values: [availabilityZone] },
            ],
          }),
          { abortSignal: sig },
        ),
      options,
    );
    return (out.Volumes ?? []).map(toVolume).sort((a, b) => a.volumeId.localeCompare(b.volumeId));
  }

  async attachedAt(instanceId: string, device: string, options: CallOptions = {}): Promise<EbsVolume | undefined> {
    const out = await this.call(
      `EC2 DescribeVolumes attached to ${instanceId} at ${device}`,
      (sig) =>
        this.client.send(
          new DescribeVolumesCommand({
            Filters: [
              { Name: 'attachment.instance-id', Values: [instanceId] },
              { Name: 'attachment.device', Values: deviceTwins(device) },
            ],
          }),
          { abortSignal: sig },
        ),
      options,
    );
    return (out.Volumes ?? []).map(toVolume)[0];
  }

  async attach(volumeId: string, instanceId: string, device: string, options: CallOptions = {}): Promise<void> {
    await this.call(
      `EC2 AttachVolume ${volumeId} to ${instanceId} at ${device}`,
      (sig) => this.client.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: device }), { abortSignal: sig }),
      options,
    );
  }

  async tag(volumeId: string, key: string, options: CallOptions = {}): Promise<string | undefined> {
    const out = await this.call(
      `EC2 DescribeTags ${key} of ${volumeId}`,
      (sig) =>
        this.client.send(
          new DescribeTagsCommand({
            Filters: [
              { Name: 'resource-id', Values: [volumeId] },
              { Name: 'key', Values: [key] },
            ],
          }),
          { abortSignal: sig },
        ),
      options,
    );
    return out.Tags?.find((t) => t.ResourceId === volumeId && t.Key === key)?.Value;
  }

  async deleteTag(volumeId: string, key: string, options: CallOptions = {}): Promise<void> {
    await this.call(
      `EC2 DeleteTags ${key} of ${volumeId}`,
      (sig) => this.client.send(new DeleteTagsCommand({ Resources: [volumeId], Tags: [{ Key: key }] }), { abortSignal: sig }),
      options,
    );
  }

  close(): void {
    this.client.destroy();
  }

  private call<T>(what: string, send: (signal: AbortSignal) => Promise<T>, { signal }: CallOptions): Promise<T> {
    return callAws(what, this.o, send, (info, attempts) => failure(what, info, attempts), signal);
  }
}

function failure(what: string, info: AwsErrorInfo, attempts: number) {
  if (info.retriable)
    return {
      code: 'TPG_EC2_UNAVAILABLE' as const,
      message: `${what} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${info.message}`,
      hint:
        info.name === 'CredentialsProviderError'
          ? 'the agent found no AWS credentials: give the instance an IAM role (instance profile)'
          : 'EC2 was unreachable or kept throttling until the boot deadline',
    };
  return {
    code: 'TPG_EC2_FAILED' as const,
    message: `${what} was refused: ${info.name}${info.message && info.message !== info.name ? `: ${info.message}` : ''}`,
    hint: /Unauthorized|AccessDenied|AuthFailure/i.test(info.name)
      ? 'the instance role lacks an EC2 permission; packer/instance-role-policy.json lists what volumes need (ec2:DescribeVolumes, ec2:AttachVolume, ec2:DescribeTags, ec2:DeleteTags)'
      : 'check volumes.ebs and mounts in the user data',
  };
}

function toVolume(v: Volume): EbsVolume {
  return {
    volumeId: v.VolumeId ?? '',
    state: v.State ?? 'unknown',
    availabilityZone: v.AvailabilityZone ?? '',
    sizeGiB: v.Size ?? 0,
    attachments: (v.Attachments ?? []).map((a) => ({ instanceId: a.InstanceId ?? '', device: a.Device ?? '', state: a.State ?? 'unknown' })),
  };
}

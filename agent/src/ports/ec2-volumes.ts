/*! EBS volumes as the disks step needs them: find the application's volumes by Name tag, attach
 * one to this instance, read and clear the erase-on-boot tag. Implemented over
 * @aws-sdk/client-ec2 in adapters/aws/ec2.ts. Every call retries throttling and network errors
 * until the deadline its signal carries, never past it. */

export interface EbsAttachment {
  instanceId: string;
  /** As EC2 records it: the name given at attach time, e.g. /dev/sdf or /dev/xvdf. */
  device: string;
  state: string;
}

export interface EbsVolume {
  volumeId: string;
  /** available, in-use, creating, ... */
  state: string;
  availabilityZone: string;
  sizeGiB: number;
  attachments: EbsAttachment[];
}

export interface CallOptions {
  /** Cancels the call; the deadline it carries (lib/retry deadlineSignal, a boot's) bounds its retries. */
  signal?: AbortSignal;
}

export interface Ec2Volumes {
  /** Every volume whose Name tag is `name` in `availabilityZone`, whatever its state, lowest id first. */
  findByName(name: string, availabilityZone: string, options?: CallOptions): Promise<EbsVolume[]>;
  /** The volume attached to `instanceId` at `device` (or its sd/xvd twin), if any. */
  attachedAt(instanceId: string, device: string, options?: CallOptions): Promise<EbsVolume | undefined>;
  /** Attach the volume; resolves once EC2 accepted the request (the device appears later). */
  attach(volumeId: string, instanceId: string, device: string, options?: CallOptions): Promise<void>;
  /** One tag of a volume (DescribeTags), undefined when it has none by that key. */
  tag(volumeId: string, key: string, options?: CallOptions): Promise<string | undefined>;
  /** Remove one tag from a volume (DeleteTags). */
  deleteTag(volumeId: string, key: string, options?: CallOptions): Promise<void>;
}

/*! EBS device names: /dev/sdf and /dev/xvdf name the same attachment point (EC2 records
 * whichever was asked for; a Xen kernel shows /dev/xvdf either way). */

/** The name as given, then its sd/xvd twin (for any other device, only the name). */
export function deviceTwins(device: string): string[] {
  const m = /^\/dev\/(sd|xvd)([a-z]+\d*)$/.exec(device);
  if (!m) return [device];
  return [device, `/dev/${m[1] === 'sd' ? 'xvd' : 'sd'}${m[2]}`];
}

/** Whether the name can be an EBS attachment point (sd* or xvd*), as opposed to md arrays and others. */
export function isEbsDeviceName(device: string): boolean {
  return /^\/dev\/(sd|xvd)[a-z]+\d*$/.test(device);
}

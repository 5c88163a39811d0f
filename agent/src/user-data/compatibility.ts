/*! The prose of docs/user-data.md that no schema carries: Senza's TaupageConfig, and where this
 * image reads user data differently from the original Taupage, and why. Generated with the tables
 * (json-schema.ts), so it changes with the code that does what it says. */

export const SENZA_SECTION = [
  '## Senza TaupageConfig',
  '',
  "Senza's `Senza::TaupageAutoScalingGroup` takes a `TaupageConfig` mapping and renders it into user data:",
  'it puts the `#taupage-ami-config` header in front and, where the mapping leaves them out, adds',
  '`application_id` (the stack name), `application_version` (the stack version) and `notify_cfn` (stack',
  "`<StackName>-<StackVersion>`, resource: the component's name). Save the mapping to a file and check it with",
  '`taupage validate --senza FILE`: those three keys may be absent, and every other key is checked as in user',
  'data, just as strictly (Senza itself refuses a TaupageConfig without `runtime: Docker` and a `source`, and',
  'an `application_version` other than letters and digits with `.` `_` `-` between them; so does `--senza`).',
  '`taupage plan --senza FILE` shows what a boot of the rendered user data would do, with `<StackName>`,',
  '`<StackVersion>` and `<ComponentName>` standing for what only `senza create` knows. Replace Senza',
  'placeholders such as `{{Arguments.ImageVersion}}` with real values first: the check sees the text as written.',
  '',
  '`--no-header` is something else: a whole document kept without its header (such as `/meta/taupage.yaml`);',
  'it still needs `application_id` and `application_version`.',
  '',
];

interface Difference {
  topic: string;
  text: string;
}

/** Where this image reads user data differently from the original, and why; keep to what the code does. */
export const DIFFERENCES: Difference[] = [
  {
    topic: 'One document, not a merge',
    text:
      "The original merged each boot's user data into the previous boot's `/meta/taupage.yaml`, so a key removed " +
      'from the user data survived a stop and start. Here the document replaces the file: what runs is what the user data says.',
  },
  {
    topic: 'Duplicate keys',
    text:
      'PyYAML kept the last value of a key given twice in one mapping, silently. So does this image, with a ' +
      'TPG_UD_DUPLICATE_KEY warning at each repeated key that names the other lines (`80` and `"80"` count as the same key; ' +
      '`--strict` makes it an error). Documents that booted for years keep booting, the team sees which value was dropped, ' +
      'and every other problem in the document is still reported.',
  },
  {
    topic: 'Unknown keys',
    text:
      'The original ignored keys it did not know. Here each one gets a TPG_UD_UNKNOWN_KEY warning, with the known key it ' +
      'probably meant, so a typo does not silently turn a feature off (`--strict` makes it an error).',
  },
  {
    topic: 'Keys of features this image does not have',
    text:
      'Keys of the agents and services listed under "Accepted but not supported" are accepted with a ' +
      'TPG_UD_UNSUPPORTED_KEY warning (an error with `--strict`): a deployed stack does not break, and the team learns ' +
      'the feature is not applied. With `etcd_discovery_domain` the original published the whole user data (but ' +
      '`environment`) to etcd for other services to read, such as `hystrix` for Turbine; this image publishes nothing, ' +
      'so `hystrix`, and with `etcd_discovery_domain` any top-level key it does not know, is reported as unsupported rather than unknown.',
  },
  {
    topic: 'application_id and application_version are required',
    text:
      'The original booted without them: the container got `APPLICATION_ID=None` or `APPLICATION_VERSION=None`, and logs ' +
      'shipped to S3 were filed under `None`; fullstop, the STUPS auditor, reported such instances as ' +
      '`MISSING_APPLICATION_VERSION_IN_USER_DATA` (or `_ID_`) violations. Here user ' +
      'data without them is refused before it boots. Senza fills both in, so this concerns hand-written user data only; ' +
      'check a TaupageConfig with `--senza`. application_id must also be a Kio id (lowercase letters, digits, dashes), as ' +
      'Senza required: it names the Mint credentials folder and the log tag.',
  },
  {
    topic: 'Values as written',
    text:
      'The original turned YAML values into Python text: `application_version: 1.10` became `1.1`, an environment value ' +
      '`on` became `True` and an empty one `None`. Here strings and environment values are used as written in the file ' +
      '(`1.10`, `on`, an empty string); booleans where a boolean belongs are still read as YAML 1.1 booleans.',
  },
  {
    topic: 'Image references',
    text:
      'The same rules as the original (a registry, an explicit tag, never `latest`, never a SNAPSHOT tag in any case), ' +
      'found by `taupage validate` instead of at `docker run`. A registry with a port and an `@sha256:` digest pin are ' +
      "also accepted (the original's parser split `host:5000/...` at the port and refused it).",
  },
  {
    topic: '`aws:kms:` values',
    text:
      'The original found a broken ciphertext only when KMS refused it at boot (and its Scalyr script cut the prefix one ' +
      'character short and relied on base64 decoding to skip the `:`). Here a value after `aws:kms:` that is not base64 ' +
      'is a TPG_UD_KMS_BASE64 error before deployment; the value itself is never printed.',
  },
  {
    topic: 'mint_bucket',
    text:
      'The original started its credentials fetcher whenever the text `mint_bucket` appeared anywhere in the file, even ' +
      'in a comment. Here only the key counts, and it must be an S3 bucket name, so a template placeholder left in it ' +
      '(`<my_mint_bucket>`) is refused instead of failing every two minutes at run time.',
  },
  {
    topic: 'Size',
    text:
      'EC2 refuses user data over 16 KiB of what it stores, a gzipped document counted by its compressed size; ' +
      '`taupage validate` says so before the launch does (and reads `.gz` files as EC2 takes them).',
  },
  {
    topic: 'Mounts',
    text:
      'tmpfs is mounted with `partition: none` or without a partition (the original mounted only `none` and left the ' +
      'other unmounted, silently); `erase_on_boot: false` on tmpfs is a TPG_UD_TMPFS_ERASE warning, as tmpfs keeps ' +
      'nothing over a reboot. A mount without a partition gives the container a directory of the root disk, as the ' +
      'original did, with a TPG_UD_NO_DEVICE warning and a line in the plan saying its data goes with the instance; ' +
      'a mount inside such a directory is a TPG_UD_MOUNT_IN_DIRECTORY error (the application owns the directory and ' +
      'could turn the path into a link elsewhere on the host before root mounts on it); ' +
      'every other bind under `/mounts` must be mounted before the container starts, or the boot fails. `erase_on_boot` ' +
      'must be a real boolean (the string "false" erased data on the original), and a device holding another file ' +
      'system, a partition table or a RAID member is never formatted over.',
  },
  {
    topic: 'Log keys',
    text:
      "`scalyr_account_key: ''` (Senza templates write it) skips Scalyr with a note in the status, as the original " +
      'did; a number there is an error (it crashed the original). `application_logrotate_rotate: 0` is valid (old logs ' +
      'are removed). The Scalyr sampling keys are known. `logentries_account_key` still works, with a warning pointing ' +
      'at `logging.logentries_token`. A value rendered into rsyslog, logrotate or Scalyr configuration may hold no ' +
      'quote, backslash or line break (the original pasted them in, so a value could add configuration).',
  },
];

export function differencesSection(): string[] {
  return [
    '## What differs from the original Taupage, and why',
    '',
    'User data that booted on the original Taupage is read the same way here (YAML 1.1 as PyYAML read it, the',
    'same keys, the same header), except where a difference protects the team or the instance:',
    '',
    ...DIFFERENCES.map((d) => `- **${d.topic}.** ${d.text}`),
    '',
  ];
}

/*! Every host path the agent touches, under one root. Tests and the demo pass a scratch root;
 * on an instance the root is `/`. Nothing else in the agent joins host paths by hand. */
import { join } from 'node:path';

export function paths(root = '/') {
  const r = (...p: string[]) => join(root, ...p);
  return {
    root,
    /** Read-only into the container; holds the validated user data and credentials. */
    meta: r('meta'),
    taupageYaml: r('meta', 'taupage.yaml'),
    credentialsDir: r('meta', 'credentials'),
    etc: r('etc'),
    agentConfig: r('etc', 'taupage', 'agent.yaml'),
    sshdConfigDir: r('etc', 'ssh', 'sshd_config.d'),
    sshdConfig: r('etc', 'ssh', 'sshd_config.d', 'taupage.conf'),
    rsyslogDir: r('etc', 'rsyslog.d'),
    /** rsyslog's main configuration: the boot checks it, with the drop-in, before restarting rsyslog. */
    rsyslogConf: r('etc', 'rsyslog.conf'),
    /** The logging step's rsyslog drop-in: inputs, application.log, forwarding (mode 0600: it may hold a token). */
    rsyslogDropIn: r('etc', 'rsyslog.d', '30-taupage.conf'),
    logrotateDir: r('etc', 'logrotate.d'),
    /** The Scalyr agent's configuration (only this file is ours). */
    scalyrConfig: r('etc', 'scalyr-agent-2', 'agent.json'),
    sysctlFile: r('etc', 'sysctl.d', '99-custom.conf'),
    passwd: r('etc', 'passwd'),
    /** tmpfs on an instance: cleared at every boot. */
    run: r('run', 'taupage'),
    bootLock: r('run', 'taupage', 'boot.lock'),
    statusFile: r('run', 'taupage', 'status.json'),
    resultFile: r('run', 'taupage', 'result.json'),
    /** Mint credentials refresher: last refresh, ETags (never contents). */
    credentialsStatus: r('run', 'taupage', 'credentials.json'),
    /** The kernel's id of this boot (tests put a fake one under their root). */
    bootIdFile: r('proc', 'sys', 'kernel', 'random', 'boot_id'),
    /** Keys written while the disk was full (tmpfs: a reboot ends such a grant). */
    sshKeysRun: r('run', 'taupage', 'ssh-keys'),
    /** Serializes SSH hook invocations (account changes and the audit chain). */
    sshHookLock: r('run', 'taupage', 'ssh-hook.lock'),
    /** Where `taupage ssh-service` listens and `taupage ssh-hook` connects (unless ssh.hook_socket). */
    sshHookSocket: r('run', 'taupage', 'ssh-hook.sock'),
    /** Audit records written while the log's disk was full; moved into the log once it has room. */
    sshAuditSpill: r('run', 'taupage', 'ssh-audit.spill.jsonl'),
    /** rsyslog's input for the application container (Docker's syslog driver, unix://), in a root-only directory. */
    applicationLogSocketDir: r('run', 'taupage', 'log'),
    applicationLogSocket: r('run', 'taupage', 'log', 'application.sock'),
    /** mount_custom_log: rsyslog's input for the lines the custom log reader sends (a datagram
     * socket), in a directory only root and the application's group reach (0750). */
    customLogSocketDir: r('run', 'taupage', 'custom-logs'),
    customLogSocket: r('run', 'taupage', 'custom-logs', 'custom.sock'),
    /** Scratch space where a new rsyslog configuration is checked before it is put in place. */
    rsyslogCheckDir: r('run', 'taupage', 'rsyslog-check'),
    /** Grants recorded while the disk was full (their keys are in sshKeysRun). */
    sshGrantsRun: r('run', 'taupage', 'ssh-grants'),
    state: r('var', 'lib', 'taupage'),
    /** The audit chain's last seq and hash: catches records cut off the end of the log. */
    sshAuditHead: r('var', 'lib', 'taupage', 'ssh-audit.head'),
    /** One root-only record per SSH grant (user, key, expiry): what `taupage ssh expire` reads. */
    sshGrants: r('var', 'lib', 'taupage', 'ssh-grants'),
    /** The granted people's authorized_keys: root's files in a root-only tree, never in their homes. */
    sshKeys: r('var', 'lib', 'taupage', 'ssh-keys'),
    /** Where a person's cron and at jobs and systemd lingering live (removed at revoke). */
    crontabs: r('var', 'spool', 'cron', 'crontabs'),
    atJobs: r('var', 'spool', 'cron', 'atjobs'),
    lingerDir: r('var', 'lib', 'systemd', 'linger'),
    varLog: r('var', 'log'),
    varLogCustom: r('var', 'log-custom'),
    /** The configuration of the custom log reader: an rsyslogd that reads /var/log-custom as the
     * application's user (taupage-custom-logs.service), never as root. */
    customLogReaderConf: r('etc', 'taupage', 'custom-logs.rsyslog.conf'),
    /** Its work directory (imfile's read positions): the unit's StateDirectory, the reader's own. */
    customLogReaderState: r('var', 'lib', 'taupage-custom-logs'),
    applicationLog: r('var', 'log', 'application.log'),
    logDir: r('var', 'log', 'taupage'),
    sshAuditLog: r('var', 'log', 'taupage', 'ssh-audit.jsonl'),
    textfileCollector: r('var', 'local', 'textfile_collector'),
    metricsFile: r('var', 'local', 'textfile_collector', 'taupage.prom'),
    home: r('home'),
    /** Where the volumes are mounted: /mounts<path> on the host is <path> in the container. */
    mounts: r('mounts'),
    /** Device nodes (volumes.ebs, mounts' partitions) and sysfs (NVMe serials, sysfs settings). */
    dev: r('dev'),
    sys: r('sys'),
    /** The kernel parameters sysctl sets. */
    procSys: r('proc', 'sys'),
    certs: r('etc', 'ssl', 'certs'),
    dockerSocket: r('var', 'run', 'docker.sock'),
  };
}

export type Paths = ReturnType<typeof paths>;

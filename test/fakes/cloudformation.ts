/*! A fake AWS CloudFormation speaking the query protocol (form-encoded POST, XML answers) for
 * `Action=SignalResource`. Every accepted signal is recorded for assertions; errors come as
 * `<ErrorResponse><Error><Type>Sender</Type><Code>...</Code>` like the real service. When `stacks`
 * is given, unknown stacks and resources are refused with ValidationError as CloudFormation does. */
import { randomUUID } from 'node:crypto';
import { startFakeServer, sigv4Scope, type FakeRequest, type FakeResponse, type FakeServer } from './http-fake.js';

const NS = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';

export interface RecordedSignal {
  stackName: string;
  logicalResourceId: string;
  uniqueId: string;
  status: string;
  region?: string;
  accessKeyId?: string;
  at: number;
}

export interface CloudFormationOptions {
  /** Stack name → logical ids waiting for signals; default: accept any. */
  stacks?: Record<string, string[]>;
  port?: number;
  /** Address to listen on (default 127.0.0.1), e.g. a Docker bridge's, for a booted image. */
  host?: string;
}

export interface FakeCloudFormation extends FakeServer {
  signals: RecordedSignal[];
}

export function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

function errorXml(status: number, code: string, message: string, type = 'Sender'): FakeResponse {
  return {
    status,
    headers: { 'content-type': 'text/xml', 'x-amzn-requestid': randomUUID() },
    body: `<ErrorResponse xmlns="${NS}">\n  <Error>\n    <Type>${type}</Type>\n    <Code>${xmlEscape(code)}</Code>\n    <Message>${xmlEscape(message)}</Message>\n  </Error>\n  <RequestId>${randomUUID()}</RequestId>\n</ErrorResponse>\n`,
  };
}

export async function startCloudFormation(options: CloudFormationOptions = {}): Promise<FakeCloudFormation> {
  const signals: RecordedSignal[] = [];
  const handle = (req: FakeRequest): FakeResponse => {
    if (req.method !== 'POST') return errorXml(400, 'InvalidAction', 'the query protocol needs POST');
    const form = new URLSearchParams(req.body.toString('utf8'));
    const action = form.get('Action');
    if (!sigv4Scope(req.headers)) return errorXml(403, 'MissingAuthenticationToken', 'Request is missing Authentication Token');
    if (action !== 'SignalResource')
      return errorXml(400, 'InvalidAction', `Could not find operation ${action ?? '(none)'} for version ${form.get('Version') ?? '(none)'}`);
    const stackName = form.get('StackName') ?? '';
    const logicalResourceId = form.get('LogicalResourceId') ?? '';
    const uniqueId = form.get('UniqueId') ?? '';
    const status = form.get('Status') ?? '';
    const missing = [
      ['StackName', stackName],
      ['LogicalResourceId', logicalResourceId],
      ['UniqueId', uniqueId],
      ['Status', status],
    ]
      .filter(([, v]) => !v)
      .map(([k]) => k);
    if (missing.length)
      return errorXml(
        400,
        'ValidationError',
        `${missing.length} validation error(s) detected: ${missing.map((k) => `Value null at '${k![0]!.toLowerCase()}${k!.slice(1)}' failed to satisfy constraint: Member must not be null`).join('; ')}`,
      );
    if (status !== 'SUCCESS' && status !== 'FAILURE')
      return errorXml(
        400,
        'ValidationError',
        `1 validation error detected: Value '${status}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [SUCCESS, FAILURE]`,
      );
    if (options.stacks) {
      const resources = options.stacks[stackName];
      if (!resources) return errorXml(400, 'ValidationError', `Stack with id ${stackName} does not exist`);
      if (!resources.includes(logicalResourceId))
        return errorXml(400, 'ValidationError', `Resource ${logicalResourceId} does not exist for stack ${stackName}`);
    }
    const scope = sigv4Scope(req.headers);
    signals.push({
      stackName,
      logicalResourceId,
      uniqueId,
      status,
      at: Date.now(),
      ...(scope ? { region: scope.region, accessKeyId: scope.accessKeyId } : {}),
    });
    return {
      status: 200,
      headers: { 'content-type': 'text/xml', 'x-amzn-requestid': randomUUID() },
      body: `<SignalResourceResponse xmlns="${NS}">\n  <ResponseMetadata>\n    <RequestId>${randomUUID()}</RequestId>\n  </ResponseMetadata>\n</SignalResourceResponse>\n`,
    };
  };
  const server = await startFakeServer(
    {
      name: 'cloudformation',
      handle,
      throttled: () => errorXml(400, 'Throttling', 'Rate exceeded'),
      error: (status) =>
        status >= 500 ? errorXml(status, 'InternalFailure', 'injected failure', 'Receiver') : errorXml(status, 'ValidationError', 'injected error'),
    },
    { ...(options.port !== undefined ? { port: options.port } : {}), ...(options.host ? { host: options.host } : {}) },
  );
  return Object.assign(server, { signals });
}

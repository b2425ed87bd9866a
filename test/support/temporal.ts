/** Temporal for tests: the suite's dev server, or a time-skipping server of this file's own. */
import { status } from '@grpc/grpc-js';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { timeSkippingServerExecutable } from '../../src/dev/binaries';
import { registerSearchAttributes } from '../../src/temporal/client';
import { serviceDataConverter, type CodecKey } from '../../src/temporal/data-converter';
import { searchAttributes } from '../../surface';

export function devServerAddress(): string {
  const address = process.env.TEST_TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEST_TEMPORAL_ADDRESS is unset: run the tests with `npm test` (jest global setup)');
  return address;
}

/**
 * A client and a worker connection to the suite's dev server. `codecKeys`: the client encrypts and decrypts payloads
 * as the service's do (src/temporal/data-converter.ts), for a worker run with the same TEMPORAL_CODEC_KEYS.
 */
export async function connectDevServer(codecKeys: CodecKey[] = []): Promise<{
  client: Client;
  nativeConnection: NativeConnection;
  close(): Promise<void>;
}> {
  const address = devServerAddress();
  const connection = await Connection.connect({ address });
  const nativeConnection = await NativeConnection.connect({ address });
  return {
    client: new Client({ connection, dataConverter: serviceDataConverter(codecKeys) }),
    nativeConnection,
    close: async () => {
      await nativeConnection.close();
      await connection.close();
    },
  };
}

/** Temporal's Java time-skipping test server, as provisioned by scripts/provision.sh, with our search attributes. */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: timeSkippingServerExecutable() },
  });
  try {
    await registerOurSearchAttributes(env.client);
  } catch (err) {
    await env.teardown();
    throw err;
  }
  return env;
}

/**
 * The suite's dev server has SessionId/StudyId/SiteId already. The time-skipping test server cannot list
 * search attributes (UNIMPLEMENTED) but accepts addSearchAttributes.
 */
async function registerOurSearchAttributes(client: Client): Promise<void> {
  const namespace = client.options.namespace;
  try {
    await registerSearchAttributes(client, namespace);
  } catch (err) {
    if ((err as { code?: number }).code !== status.UNIMPLEMENTED) throw err;
    const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
    await client.connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(searchAttributes.map((key) => [key.name, keyword])),
    });
  }
}

/**
 * The SDK logs every failed activity attempt at WARN, and the monitors fail attempts on purpose: keep the test
 * output to errors (the native core's too). Call before anything creates the Temporal runtime (a test environment, a worker).
 */
export function quietTemporalLogs(): void {
  if (Runtime._instance) return;
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
  });
}

/** The failure a workflow ended with (the test fails if it did not fail). */
export async function workflowFailure(client: Client, workflowId: string): Promise<WorkflowFailedError> {
  const err = await client.workflow
    .getHandle(workflowId)
    .result()
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  return err as WorkflowFailedError;
}

/** Temporal for tests: the suite's dev server, or a time-skipping server of this file's own. */
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import { timeSkippingServerExecutable } from '../../src/dev/binaries';
import { serviceDataConverter, type CodecKey } from '../../src/temporal/data-converter';

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

/** Temporal's Java time-skipping test server, as provisioned by scripts/provision.sh. */
export function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createTimeSkipping({ server: { executable: timeSkippingServerExecutable() } });
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

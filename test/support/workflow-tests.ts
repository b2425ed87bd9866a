/**
 * Fast tests of the workflows (test/workflows/): the code of workflows/ on Temporal's time-skipping test server
 * with stubbed activities, so no PostgreSQL, SMTP server or REDCap, as temporalio's money-transfer template tests
 * its workflow. The real activities are tested on the real servers (test/integration/).
 *
 * One server and one worker per test file, on a task queue of their own (and its jobs queue, as src/worker.ts
 * runs them). The file names the activities its workflow calls and what they do by default; a test changes what
 * it needs with `stub` and reads what they were called with in `calls`. Anything the workflow leaves running at
 * the end of a test is terminated.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { Client, WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import type { Workflow } from '@temporalio/common';
import type { Activities } from '../../activities';
import { jobsTaskQueue } from '../../surface';
import { eventually } from './processes';
import { createTimeSkippingEnv, quietTemporalLogs } from './temporal';
import { testWorkflowBundle } from './workflow-bundle';

export type ActivityName = keyof Activities;
/** Stand-ins for activities, with their real signatures. */
export type ActivityStubs = Partial<Activities>;

export interface ActivityCall {
  activity: ActivityName;
  args: unknown[];
  workflowId: string;
  /** Where it ran: the file's task queue, or its jobs queue (surface jobsTaskQueue). */
  taskQueue: string;
  /** The attempt (1, 2, …), and when it began in the test server's time (which skips ahead, ms). */
  attempt: number;
  at: number;
}

export interface WorkflowTests {
  readonly env: TestWorkflowEnvironment;
  readonly client: Client;
  readonly taskQueue: string;
  /** What the activities do in this test, over the file's defaults (only activities the file named). */
  stub(stubs: ActivityStubs): void;
  /** Calls of the activities in this test, in order; of one activity when named. */
  calls(activity?: ActivityName): ActivityCall[];
  /** Starts a workflow on the file's task queue with a fresh id (typed by the workflow: a swapped input is an error). */
  start<W extends Workflow>(workflow: W, input: Parameters<W>[0]): Promise<WorkflowHandleWithFirstExecutionRunId<W>>;
}

/** Registers the file's jest hooks; call at the top of the file. */
export function workflowTests(defaults: ActivityStubs): WorkflowTests {
  const names = Object.keys(defaults) as ActivityName[];
  const taskQueue = `workflow-tests-${randomUUID()}`;
  let env: TestWorkflowEnvironment | undefined;
  let running: Promise<unknown> | undefined;
  let workers: Worker[] = [];
  let stubs: ActivityStubs = {};
  let calls: ActivityCall[] = [];
  let started: WorkflowHandle[] = [];

  const activities = Object.fromEntries(
    names.map((name) => [
      name,
      async (...args: unknown[]) => {
        const info = Context.current().info;
        calls.push({
          activity: name,
          args,
          workflowId: info.workflowExecution?.workflowId ?? '',
          taskQueue: info.taskQueue,
          attempt: info.attempt,
          // The server's clock (the attempt's scheduled time is when the one before it failed, on the test server).
          at: await ready().currentTimeMs(),
        });
        const stub = (stubs[name] ?? defaults[name]) as (...a: unknown[]) => Promise<unknown>;
        return stub(...args);
      },
    ]),
  );

  beforeAll(async () => {
    quietTemporalLogs();
    const codePath = await testWorkflowBundle();
    env = await createTimeSkippingEnv();
    const common: Omit<WorkerOptions, 'taskQueue'> = {
      connection: env.nativeConnection,
      activities,
      // A cancel reaches a running stub at its next heartbeat: at once, not after 80 % of the heartbeat timeout.
      maxHeartbeatThrottleInterval: '50 milliseconds',
      defaultHeartbeatThrottleInterval: '50 milliseconds',
      shutdownGraceTime: '1 second',
    };
    workers = [
      await Worker.create({ ...common, taskQueue, workflowBundle: { codePath } }),
      await Worker.create({ ...common, taskQueue: jobsTaskQueue(taskQueue) }),
    ];
    running = Promise.all(workers.map((worker) => worker.run()));
  });

  beforeEach(() => {
    stubs = {};
    calls = [];
    started = [];
  });

  afterEach(async () => {
    for (const handle of started) {
      const { status } = await handle.describe();
      if (status.name === 'RUNNING') await handle.terminate('the test is over');
    }
  });

  afterAll(async () => {
    for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
    await env?.teardown();
  });

  const ready = () => {
    if (!env) throw new Error('workflowTests: the server is set up in beforeAll');
    return env;
  };
  return {
    get env() {
      return ready();
    },
    get client() {
      return ready().client;
    },
    taskQueue,
    stub(more) {
      const unknown = Object.keys(more).filter((name) => !names.includes(name as ActivityName));
      if (unknown.length > 0) throw new Error(`stub: ${unknown.join(', ')} not among the file's activities`);
      stubs = { ...stubs, ...more };
    },
    calls: (activity) => (activity ? calls.filter((call) => call.activity === activity) : [...calls]),
    async start(workflow, input) {
      // Typed at the call (one input, of the workflow's type); here any workflow.
      const handle = await ready().client.workflow.start<Workflow>(workflow, {
        taskQueue,
        workflowId: `${workflow.name}-${randomUUID()}`,
        args: [input],
      });
      started.push(handle);
      return handle as WorkflowHandleWithFirstExecutionRunId<typeof workflow>;
    },
  };
}

/** A promise a stub waits on until the test lets it go on. */
export function gate(): { wait: Promise<void>; open(): void } {
  let open = () => undefined as void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/** Waits (polling often: everything here is in memory) until `check` is true; fails after 30 s naming `what`. */
export const waitFor = (check: () => Promise<boolean> | boolean, what: string) => eventually(check, what, 30_000, 10);

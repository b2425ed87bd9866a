/**
 * `npm start` keeps its embedded PostgreSQL and Temporal dev server running: one that dies is started again on the
 * same port and data, with backoff (1 s doubling to 30 s), each step logged; the API and the worker reconnect by
 * themselves. After RESTARTS_IN_A_ROW failed or short-lived restarts it gives up, and `npm start` exits non-zero
 * naming it, so that whatever supervises `npm start` can act; it never stays up unready.
 */
import type { Logger } from '../logger';

/** A server process we started: how it ended, once it has. */
export interface ServerProcess {
  /** Resolves with how it ended (`code 1`, `signal SIGKILL`) when it exits, whoever stopped it; unset: not ours to watch (never restarted). */
  exited?: Promise<string>;
  stop(): Promise<void>;
}

export interface Supervised<T extends ServerProcess> {
  /** The running one (replaced at each restart). */
  current(): T;
  /** Stops it for good: no restart. */
  stop(): Promise<void>;
}

const RESTARTS_IN_A_ROW = 5;
const FIRST_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;
/** A server that ran this long before it died counts as having recovered: the backoff starts again. */
const STABLE_AFTER_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts `start()` and keeps it running. `onGiveUp` is called once with a one-line reason when it cannot be kept
 * running.
 */
export async function supervise<T extends ServerProcess>(
  name: string,
  start: () => Promise<T>,
  options: { log: Logger; onGiveUp: (reason: string) => void },
): Promise<Supervised<T>> {
  const log = options.log.child({ child: name });
  let current = await start();
  let stopping = false;

  const keepRunning = async () => {
    let failures = 0;
    let since = Date.now();
    while (!stopping) {
      if (!current.exited) return;
      const how = await current.exited;
      if (stopping) return;
      if (Date.now() - since >= STABLE_AFTER_MS) failures = 0;
      let lastError = `it exited (${how})`;
      for (;;) {
        failures += 1;
        if (failures > RESTARTS_IN_A_ROW) {
          log.error({ how }, `${name} could not be kept running: giving up`);
          options.onGiveUp(`${name} exited (${how}) and could not be restarted: ${lastError}`);
          return;
        }
        const backoffMs = Math.min(FIRST_BACKOFF_MS * 2 ** (failures - 1), MAX_BACKOFF_MS);
        log.error(
          { how, attempt: failures, backoffMs },
          `${name} exited (${how}); restarting in ${backoffMs / 1000} s`,
        );
        await sleep(backoffMs);
        if (stopping) return;
        try {
          current = await start();
          if (stopping) return void (await current.stop());
          since = Date.now();
          log.info({ attempt: failures }, `${name} restarted`);
          break;
        } catch (err) {
          lastError = err instanceof Error ? err.message.split('\n')[0] : String(err);
          log.error({ err, attempt: failures }, `${name} did not start again: ${lastError}`);
        }
      }
    }
  };
  void keepRunning();

  return {
    current: () => current,
    async stop() {
      stopping = true;
      await current.stop();
    },
  };
}

import fs from 'node:fs';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { EmbeddedPostgresHandle } from '../src/db/embedded-postgres';
import { describeFinding, scanHistories } from './support/history-scan';
import { participantTextsOfTheSuite } from './support/participant-texts';

export default async function globalTeardown(): Promise<void> {
  const services = (globalThis as Record<string, unknown>).__testServices as
    { pg: EmbeddedPostgresHandle; devServer: TestWorkflowEnvironment; workDir: string } | undefined;
  if (!services) return;
  try {
    await noParticipantTextInHistories(services.devServer, services.workDir);
  } finally {
    await services.devServer.teardown();
    await services.pg.stop();
    fs.rmSync(services.workDir, { recursive: true, force: true });
  }
}

/**
 * The last check of the run (issue 23): no history the tests left on the suite's dev server holds a comment or user
 * the fake REDCap handed out, or the text of an email the SMTP server received. Fails the run naming each one.
 */
async function noParticipantTextInHistories(devServer: TestWorkflowEnvironment, workDir: string): Promise<void> {
  const texts = participantTextsOfTheSuite(workDir);
  if (texts.length === 0) return;
  const scan = await scanHistories(devServer.client, texts);
  const found = scan.findings;
  console.log(
    `history scan: ${scan.histories} histories (${scan.skipped} of frozen releases not scanned), ${scan.texts} participant texts: ` +
      `${found.length} found`,
  );
  if (found.length > 0)
    throw new Error(
      `Participant text in ${new Set(found.map((f) => f.runId)).size} workflow histories:\n` +
        found
          .slice(0, 50)
          .map((finding) => `  ${describeFinding(finding)}`)
          .join('\n') +
        (found.length > 50 ? `\n  … and ${found.length - 50} more` : ''),
    );
}

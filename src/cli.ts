/**
 * Entry of `npm run cli -- …`: the operator's commands.
 *   migrate              apply pending database migrations
 *   config apply FILE    apply a YAML lab config (studies, sites, users, REDCap projects); safe to repeat
 * The database: DATABASE_URL, else the embedded PostgreSQL of `npm start` (see db/command-database.ts).
 * Exit code 0 when done, 1 on any error, with a message naming the problem (one line per problem).
 */
import fs from 'node:fs';
import { Command } from 'commander';
import { DriverException } from '@mikro-orm/core';
import { loadConfig } from './config';
import { withCommandDatabase } from './db/command-database';
import { migrate } from './db/orm';
import { describeStartupFailure } from './startup-failure';
import { applyLabConfig, formatReport, LabConfigError, parseLabConfig } from './lab-config';

const out = (line: string) => process.stdout.write(`${line}\n`);
const note = (line: string) => process.stderr.write(`${line}\n`);

function createProgram(): Command {
  const program = new Command('npm run cli --')
    .description('redcap-scan-monitor operator commands')
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });

  program
    .command('migrate')
    .description('apply pending database migrations (DATABASE_URL, else the embedded PostgreSQL under DATA_DIR)')
    .action(async () => {
      const config = loadConfig();
      await withCommandDatabase(config, note, async (orm) => {
        const applied = await migrate(orm);
        out(applied.length > 0 ? `applied migrations: ${applied.join(', ')}` : 'database schema up to date');
      });
    });

  program
    .command('config')
    .description('the lab config: studies, sites, users, REDCap projects')
    .command('apply')
    .description('apply a YAML lab config to the database in one transaction; safe to run again')
    .argument('<file>', 'YAML file (see README, "Configuration")')
    .action(async (file: string) => {
      const config = loadConfig();
      let source: string;
      try {
        source = fs.readFileSync(file, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        const why = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'it is a directory' }[code] ?? code;
        throw new LabConfigError([{ message: `cannot read the file: ${why || String(err)}` }], file);
      }
      // A bad file is refused before the database is touched.
      const parsed = parseLabConfig(source, { file });
      await withCommandDatabase(config, note, async (orm) => {
        // Pending migrations first, so a fresh database takes a config straight away.
        const applied = await migrate(orm);
        if (applied.length > 0) note(`applied migrations: ${applied.join(', ')}`);
        const report = await applyLabConfig(orm.em.fork(), parsed.config, parsed);
        for (const line of formatReport(report)) out(line);
      });
    });

  return program;
}

/** What to tell the operator: one line per problem; never a stack (unless LOG_LEVEL=debug), never a secret. */
function describeError(err: unknown): string[] {
  if (err instanceof LabConfigError) return err.lines();
  if (err instanceof DriverException) {
    // The driver's message starts with the SQL and its values; keep PostgreSQL's own words only.
    const message = err.message.split(' - ').pop() ?? err.name;
    return [`database error: ${message}`];
  }
  return [describeStartupFailure(err)];
}

async function main(): Promise<void> {
  try {
    await createProgram().parseAsync(process.argv);
  } catch (err) {
    for (const line of describeError(err)) note(`error: ${line}`);
    if (process.env.LOG_LEVEL === 'debug' && err instanceof Error && !(err instanceof LabConfigError)) note(err.stack ?? '');
    process.exitCode = 1;
  }
}

if (require.main === module) void main();

/**
 * Registering a scan of a session (POST /sessions/:id/scans, what a download job calls when data lands). The same
 * scan again is kept as it is; its name on another session, or other details under the same name, is a 409.
 */
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Scan } from '../db/entities';
import { ConflictError } from '../errors';
import { sessionsChanged } from '../lab-data/state';
import { findSession } from './domain';

export interface ScanDetails {
  name: string;
  series: number;
  tag: string;
  description?: string | null;
}

export interface RegisteredScan {
  sessionId: string;
  /** False when the same scan was registered before. */
  created: boolean;
  scan: Required<ScanDetails>;
}

/** Stores the scan (unless it is there already); throws NotFoundError for an unknown session. */
export async function registerScan(
  em: EntityManager,
  rawSessionId: string,
  body: ScanDetails,
): Promise<RegisteredScan> {
  const session = await findSession(em, rawSessionId);
  let created = false;
  let scan = await em.findOne(Scan, { name: body.name }, { populate: ['session'] });
  if (!scan) {
    try {
      scan = em.create(Scan, {
        session,
        name: body.name,
        series: body.series,
        tag: body.tag,
        description: body.description ?? null,
      });
      await em.flush();
      created = true;
    } catch (err) {
      // The same name stored meanwhile by another request: read what won.
      if (!(err instanceof UniqueConstraintViolationException)) throw err;
      em.clear();
      scan = await em.findOneOrFail(Scan, { name: body.name }, { populate: ['session'] });
    }
  }
  if (scan.session.id !== session.id) {
    throw new ConflictError(`Scan ${body.name} is already registered for session ${scan.session.id}`, {
      scan: body.name,
      sessionId: scan.session.id,
    });
  }
  const same =
    scan.series === body.series && scan.tag === body.tag && (scan.description ?? null) === (body.description ?? null);
  if (!created && !same) {
    throw new ConflictError(
      `Scan ${body.name} is already registered for ${session.id} with other details (series ${scan.series}, tag ${scan.tag})`,
      { scan: body.name },
    );
  }
  if (created) await sessionsChanged(em, [session.id]);
  return {
    sessionId: session.id,
    created,
    scan: { name: scan.name, series: scan.series, tag: scan.tag, description: scan.description ?? null },
  };
}

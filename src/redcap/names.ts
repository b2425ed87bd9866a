/** How our messages (errors, logs, emails, the Web UI's summaries) name a REDCap record. Pure code. */

/** `17`, `CMH0042 (event month_6_arm_1)`, `331-2 (instance 2)`, `5 (event scan_arm_1, instance 3)`. */
export function recordName(record: string, eventName?: string | null, instance?: number | null): string {
  const where = [eventName ? `event ${eventName}` : '', instance ? `instance ${instance}` : ''].filter(Boolean);
  return `${record}${where.length ? ` (${where.join(', ')})` : ''}`;
}

/** How many backups to keep per team, and for how long (both apply; the newest one is always kept). */
export interface RetentionPolicy {
  keepCount: number;
  maxAgeSec: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { keepCount: 96, maxAgeSec: 7 * 24 * 3600 }; // a day of 15-minute backups, a week at most

/** Pure: the ids to delete, given each backup's creation time. Never deletes the newest. */
export function expiredBackups(backups: Array<{ backupId: string; createdAt: Date }>, policy: RetentionPolicy, now: Date): string[] {
  const sorted = [...backups].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  return sorted
    .filter((b, i) => i > 0 && (i >= policy.keepCount || now.getTime() - b.createdAt.getTime() > policy.maxAgeSec * 1000))
    .map((b) => b.backupId);
}

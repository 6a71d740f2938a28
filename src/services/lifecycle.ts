// Lifecycle rules as the bucket index applies them: which current objects have expired, which noncurrent versions
// and lone delete markers go, and which multipart uploads are abandoned. The S3 XML form lives in src/s3/lifecycle-xml.ts.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lifecycle-mgmt.html

/** Where a bucket's rules are kept in its index's configuration. */
export const LIFECYCLE_CONFIG = "lifecycle";

export interface LifecycleRule {
  id?: string;
  enabled: boolean;
  prefix: string;
  /** Every tag must match (Filter/Tag or Filter/And/Tag). */
  tags: Record<string, string>;
  /** Filter/ObjectSizeGreaterThan and ObjectSizeLessThan, in bytes: both bounds are exclusive. */
  objectSizeGreaterThan?: number;
  objectSizeLessThan?: number;
  /**
   * How the filter was written, so GET returns the rule as set: a rule-level Prefix (the older form), a Filter
   * holding one condition, an empty Filter, or a Filter holding And. Absent on rules stored before it was recorded.
   */
  filterForm?: "Prefix" | "Filter" | "EmptyFilter" | "And";
  expirationDays?: number;
  /** Milliseconds since the epoch (Expiration/Date). */
  expirationDate?: number;
  /** Expiration/ExpiredObjectDeleteMarker: removes a delete marker that no older version remains behind. */
  expiredObjectDeleteMarker?: boolean;
  /** NoncurrentVersionExpiration/NoncurrentDays: days after a version stopped being current that it is deleted. */
  noncurrentDays?: number;
  /** NoncurrentVersionExpiration/NewerNoncurrentVersions: how many of the newest noncurrent versions are kept. */
  newerNoncurrentVersions?: number;
  abortIncompleteMultipartUploadDays?: number;
}

const DAY_MS = 24 * 3600 * 1000;

/** S3 counts object age in whole days, from midnight UTC after creation. */
function expiresAt(lastModified: number, days: number): number {
  const midnightAfter = Math.floor(lastModified / DAY_MS) * DAY_MS + DAY_MS;
  return midnightAfter + (days - 1) * DAY_MS;
}

/** Whether a rule's filter selects an object: its prefix, every tag, and the size bounds. */
export function ruleMatches(rule: LifecycleRule, key: string, tags: Record<string, string> | undefined, size: number): boolean {
  if (!rule.enabled || !key.startsWith(rule.prefix)) return false;
  if (rule.objectSizeGreaterThan !== undefined && !(size > rule.objectSizeGreaterThan)) return false;
  if (rule.objectSizeLessThan !== undefined && !(size < rule.objectSizeLessThan)) return false;
  return Object.entries(rule.tags).every(([k, v]) => tags?.[k] === v);
}

/**
 * A noncurrent version is deleted `noncurrentDays` after it stopped being current (counted as S3 counts ages,
 * from the next midnight UTC), unless it is among the `newerNoncurrentVersions` newest noncurrent versions.
 * `rank` is 0 for the newest noncurrent version of its key.
 */
export function isNoncurrentExpired(rule: LifecycleRule, becameNoncurrent: number, rank: number, now: number): boolean {
  if (rule.noncurrentDays === undefined) return false;
  if (rule.newerNoncurrentVersions !== undefined && rank < rule.newerNoncurrentVersions) return false;
  return now >= expiresAt(becameNoncurrent, rule.noncurrentDays);
}

export function isExpired(rule: LifecycleRule, lastModified: number, now: number): boolean {
  if (rule.expirationDate !== undefined) return now >= rule.expirationDate;
  if (rule.expirationDays !== undefined) return now >= expiresAt(lastModified, rule.expirationDays);
  return false;
}

export function isAbandoned(rule: LifecycleRule, initiated: number, now: number): boolean {
  return rule.enabled && rule.abortIncompleteMultipartUploadDays !== undefined && now >= expiresAt(initiated, rule.abortIncompleteMultipartUploadDays);
}

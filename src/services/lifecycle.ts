// Lifecycle rules as the bucket index applies them: which current objects have expired and which multipart
// uploads are abandoned. The S3 XML form lives in src/s3/lifecycle-xml.ts.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lifecycle-mgmt.html

/** Where a bucket's rules are kept in its index's configuration. */
export const LIFECYCLE_CONFIG = "lifecycle";

export interface LifecycleRule {
  id?: string;
  enabled: boolean;
  prefix: string;
  /** Every tag must match (Filter/Tag or Filter/And/Tag). */
  tags: Record<string, string>;
  expirationDays?: number;
  /** Milliseconds since the epoch (Expiration/Date). */
  expirationDate?: number;
  abortIncompleteMultipartUploadDays?: number;
}

const DAY_MS = 24 * 3600 * 1000;

/** S3 counts object age in whole days, from midnight UTC after creation. */
function expiresAt(lastModified: number, days: number): number {
  const midnightAfter = Math.floor(lastModified / DAY_MS) * DAY_MS + DAY_MS;
  return midnightAfter + (days - 1) * DAY_MS;
}

export function ruleMatches(rule: LifecycleRule, key: string, tags: Record<string, string> | undefined): boolean {
  if (!rule.enabled || !key.startsWith(rule.prefix)) return false;
  return Object.entries(rule.tags).every(([k, v]) => tags?.[k] === v);
}

export function isExpired(rule: LifecycleRule, lastModified: number, now: number): boolean {
  if (rule.expirationDate !== undefined) return now >= rule.expirationDate;
  if (rule.expirationDays !== undefined) return now >= expiresAt(lastModified, rule.expirationDays);
  return false;
}

export function isAbandoned(rule: LifecycleRule, initiated: number, now: number): boolean {
  return rule.enabled && rule.abortIncompleteMultipartUploadDays !== undefined && now >= expiresAt(initiated, rule.abortIncompleteMultipartUploadDays);
}

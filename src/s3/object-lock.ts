// S3 Object Lock: the bucket's lock configuration (PutObjectLockConfiguration), a version's retention and legal
// hold (the x-amz-object-lock-* headers, PutObjectRetention, PutObjectLegalHold), and the rules that say who may
// shorten, remove or delete what. https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html
//
// Parsing throws S3Error (the S3 operations call it); the rules return a verdict, because the bucket index
// Durable Object (the single writer that enforces them at commit) answers over RPC, where error classes do not
// survive.

import type { ObjectLock, RetentionMode } from "../services/object-model.ts";
import { S3Error } from "./errors.ts";
import { isoTime } from "./respond.ts";
import { childText, parseXml, type XmlElement, type XmlNode } from "./xml.ts";

export type { ObjectLock, RetentionMode } from "../services/object-model.ts";

export const RETENTION_MODES = ["GOVERNANCE", "COMPLIANCE"] as const satisfies readonly RetentionMode[];

/** The name the bucket's lock configuration is stored under in its index (configuration.ts). */
export const OBJECT_LOCK_CONFIG = "objectLock";

/**
 * A bucket's Object Lock configuration. Once enabled it is never disabled (S3 offers no way back); the default
 * retention rule may be replaced or removed. https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectLockConfiguration.html
 */
export interface BucketObjectLock {
  enabled: true;
  defaultRetention?: DefaultRetention;
}

/** "The DefaultRetention settings require both a mode and a period ... either Days or Years but ... not both." */
export type DefaultRetention = { mode: RetentionMode } & ({ days: number; years?: undefined } | { years: number; days?: undefined });

/** A retention set on a version: a mode and a date, or none (removed). */
export interface Retention {
  mode: RetentionMode;
  retainUntil: number;
}

const DAY_MS = 24 * 3600_000;

/** The header that creates a bucket with Object Lock (and versioning) enabled (API_CreateBucket). */
export const BUCKET_OBJECT_LOCK_HEADER = "x-amz-bucket-object-lock-enabled";
export const LOCK_MODE_HEADER = "x-amz-object-lock-mode";
export const LOCK_RETAIN_UNTIL_HEADER = "x-amz-object-lock-retain-until-date";
export const LOCK_LEGAL_HOLD_HEADER = "x-amz-object-lock-legal-hold";
/**
 * Lets a request shorten or remove a GOVERNANCE retention, or delete a version under one. In S3 it also needs the
 * s3:BypassGovernanceRetention permission; here the bucket owner holds it (bucket policies will grant it to others).
 */
export const BYPASS_GOVERNANCE_HEADER = "x-amz-bypass-governance-retention";

export const OBJECT_LOCKED_MESSAGE = "Access Denied because object protected by object lock.";
export const BUCKET_NOT_LOCKED_MESSAGE = "Bucket is missing Object Lock Configuration";

// ---------------------------------------------------------------------------------------------------------------
// The bucket's configuration

/** CreateBucket's x-amz-bucket-object-lock-enabled: true (any case); anything else leaves the bucket unlocked. */
export function objectLockRequested(headers: Headers): boolean {
  return headers.get(BUCKET_OBJECT_LOCK_HEADER)?.trim().toLowerCase() === "true";
}

/**
 * The ObjectLockConfiguration body. A document that does not follow S3's schema (no ObjectLockEnabled=Enabled, a
 * Rule without DefaultRetention, an unknown Mode, both Days and Years or neither) is MalformedXML; a period that is
 * not a positive integer is InvalidArgument.
 */
export function parseObjectLockConfiguration(body: string): BucketObjectLock {
  const doc = parseXml(body);
  if (!doc || doc.name !== "ObjectLockConfiguration") throw new S3Error("MalformedXML");
  if (childText(doc, "ObjectLockEnabled")?.trim() !== "Enabled") throw new S3Error("MalformedXML");
  const rule = child(doc, "Rule");
  if (!rule) return { enabled: true };
  const retention = child(rule, "DefaultRetention");
  if (!retention) throw new S3Error("MalformedXML");
  const mode = parseMode(childText(retention, "Mode"), () => new S3Error("MalformedXML"));
  const days = childText(retention, "Days");
  const years = childText(retention, "Years");
  if ((days === undefined) === (years === undefined)) throw new S3Error("MalformedXML");
  const period = parsePeriod((days ?? years)!);
  return { enabled: true, defaultRetention: days !== undefined ? { mode, days: period } : { mode, years: period } };
}

/** Days up to 100 years, as S3 bounds them (36500 days / 100 years). */
function parsePeriod(text: string): number {
  const value = text.trim();
  if (!/^-?\d{1,9}$/.test(value) || Number(value) <= 0) {
    throw new S3Error("InvalidArgument", "Default retention period must be a positive integer value.", { ArgumentName: "DefaultRetention", ArgumentValue: value });
  }
  if (Number(value) > 36500) throw new S3Error("InvalidArgument", "Default retention period is too large.", { ArgumentName: "DefaultRetention", ArgumentValue: value });
  return Number(value);
}

export function objectLockConfigurationXml(config: BucketObjectLock): XmlNode {
  const rule = config.defaultRetention;
  return {
    ObjectLockEnabled: "Enabled",
    Rule: rule ? { DefaultRetention: { Mode: rule.mode, Days: rule.days, Years: rule.years } } : undefined,
  };
}

/** When the default retention of a version written at `now` ends: Days of 24 hours, Years as calendar years. */
export function defaultRetainUntil(rule: DefaultRetention, now: number): number {
  if (rule.days !== undefined) return now + rule.days * DAY_MS;
  const until = new Date(now);
  until.setUTCFullYear(until.getUTCFullYear() + rule.years!);
  return until.getTime();
}

// ---------------------------------------------------------------------------------------------------------------
// A version's lock, from request headers and bodies

/**
 * The lock a write asks for in its x-amz-object-lock-* headers (PutObject, CopyObject, CreateMultipartUpload, and
 * the same fields of a POST form): undefined when it names none. Mode and date come together; the date must be
 * ISO 8601 and in the future; legal hold is ON or OFF. A bucket without Object Lock refuses any of them.
 */
export function lockFromHeaders(headers: Headers, bucketLock: BucketObjectLock | null, now: number): ObjectLock | undefined {
  const mode = headers.get(LOCK_MODE_HEADER);
  const until = headers.get(LOCK_RETAIN_UNTIL_HEADER);
  const hold = headers.get(LOCK_LEGAL_HOLD_HEADER);
  if (mode === null && until === null && hold === null) return undefined;
  if (!bucketLock) throw new S3Error("InvalidRequest", BUCKET_NOT_LOCKED_MESSAGE);
  const lock: ObjectLock = {};
  if (mode !== null || until !== null) {
    if (mode === null || until === null) {
      throw new S3Error("InvalidArgument", "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied", {
        ArgumentName: mode === null ? LOCK_MODE_HEADER : LOCK_RETAIN_UNTIL_HEADER,
      });
    }
    lock.mode = parseMode(mode.trim(), () => new S3Error("InvalidArgument", "Unknown wormMode directive.", { ArgumentName: LOCK_MODE_HEADER, ArgumentValue: mode }));
    lock.retainUntil = parseRetainUntil(until, now, () => ({ ArgumentName: LOCK_RETAIN_UNTIL_HEADER, ArgumentValue: until }));
  }
  if (hold !== null) {
    const value = hold.trim();
    if (value !== "ON" && value !== "OFF") {
      throw new S3Error("InvalidArgument", "Legal Hold must be either of 'ON' or 'OFF'", { ArgumentName: LOCK_LEGAL_HOLD_HEADER, ArgumentValue: hold });
    }
    if (value === "ON") lock.legalHold = true;
  }
  return lock;
}

/**
 * What a new version of a bucket with Object Lock carries: the retention the write named, else the bucket's default
 * retention from the write's time; a legal hold only when the write set one. Undefined when there is nothing.
 */
export function lockAtWrite(requested: ObjectLock | undefined, bucketLock: BucketObjectLock | null, now: number): ObjectLock | undefined {
  if (!bucketLock) return undefined;
  const lock: ObjectLock = {};
  if (requested?.mode !== undefined) {
    lock.mode = requested.mode;
    lock.retainUntil = requested.retainUntil;
  } else if (bucketLock.defaultRetention) {
    lock.mode = bucketLock.defaultRetention.mode;
    lock.retainUntil = defaultRetainUntil(bucketLock.defaultRetention, now);
  }
  if (requested?.legalHold) lock.legalHold = true;
  return Object.keys(lock).length ? lock : undefined;
}

/**
 * S3 requires proof of the body's integrity on an upload that Object Lock will protect ("The Content-MD5 or
 * x-amz-sdk-checksum-algorithm header is required for any request to upload an object with a retention period
 * configured using Amazon S3 Object Lock", API_PutObject): Content-MD5, or an additional checksum (a value
 * header, a trailer, or the SDK's declared algorithm). The same holds for the lock's own configuration documents.
 */
export function requireIntegrityHeader(headers: Headers, what = "Put Object requests with Object Lock parameters"): void {
  if (headers.has("content-md5") || headers.has("x-amz-trailer") || headers.has("x-amz-sdk-checksum-algorithm")) return;
  for (const name of headers.keys()) if (name.startsWith("x-amz-checksum-") && name !== "x-amz-checksum-algorithm" && name !== "x-amz-checksum-type") return;
  throw new S3Error("InvalidRequest", `Content-MD5 OR x-amz-checksum- HTTP header is required for ${what}`);
}

/** The Retention body of PutObjectRetention: a mode and a date, or an empty document that removes the retention. */
export function parseRetentionXml(body: string, now: number): Retention | null {
  const doc = parseXml(body);
  if (!doc || doc.name !== "Retention") throw new S3Error("MalformedXML");
  const modeText = childText(doc, "Mode");
  const untilText = childText(doc, "RetainUntilDate");
  if (modeText === undefined && untilText === undefined) return null;
  if (modeText === undefined || untilText === undefined) throw new S3Error("MalformedXML");
  const mode = parseMode(modeText.trim(), () => new S3Error("MalformedXML"));
  return { mode, retainUntil: parseRetainUntil(untilText.trim(), now, () => ({ ArgumentName: "RetainUntilDate", ArgumentValue: untilText })) };
}

/** The LegalHold body of PutObjectLegalHold: Status ON or OFF. */
export function parseLegalHoldXml(body: string): boolean {
  const doc = parseXml(body);
  if (!doc || doc.name !== "LegalHold") throw new S3Error("MalformedXML");
  const status = childText(doc, "Status")?.trim();
  if (status !== "ON" && status !== "OFF") throw new S3Error("MalformedXML");
  return status === "ON";
}

/** x-amz-bypass-governance-retention: true. */
export function bypassRequested(headers: Headers): boolean {
  return headers.get(BYPASS_GOVERNANCE_HEADER)?.trim().toLowerCase() === "true";
}

/** The lock headers GetObject and HeadObject answer with (API_GetObject: ObjectLockMode, ...RetainUntilDate, ...LegalHoldStatus). */
export function setLockHeaders(headers: Headers, lock: ObjectLock | undefined): void {
  if (!lock) return;
  if (lock.mode !== undefined && lock.retainUntil !== undefined) {
    headers.set(LOCK_MODE_HEADER, lock.mode);
    headers.set(LOCK_RETAIN_UNTIL_HEADER, isoTime(lock.retainUntil));
  }
  if (lock.legalHold !== undefined) headers.set(LOCK_LEGAL_HOLD_HEADER, lock.legalHold ? "ON" : "OFF");
}

function parseMode(text: string | undefined, invalid: () => S3Error): RetentionMode {
  if (text === undefined || !(RETENTION_MODES as readonly string[]).includes(text)) throw invalid();
  return text as RetentionMode;
}

/** An ISO 8601 date-time (with a zone) that lies after `now`. */
function parseRetainUntil(text: string, now: number, fields: () => Record<string, string>): number {
  const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$/;
  const ms = iso.test(text.trim()) ? Date.parse(text.trim()) : NaN;
  if (Number.isNaN(ms)) throw new S3Error("InvalidArgument", "The retain until date must be provided in ISO 8601 format", fields());
  if (ms <= now) throw new S3Error("InvalidArgument", "The retain until date must be in the future!", fields());
  return ms;
}

function child(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name);
}

// ---------------------------------------------------------------------------------------------------------------
// The rules, as the bucket's single writer applies them

/** A retention still in force at `now`. */
export function activeRetention(lock: ObjectLock | undefined, now: number): Retention | undefined {
  if (lock?.mode === undefined || lock.retainUntil === undefined || lock.retainUntil <= now) return undefined;
  return { mode: lock.mode, retainUntil: lock.retainUntil };
}

/**
 * Whether the version may be deleted for good (or its data otherwise released) at `now`: never under a legal hold
 * or a COMPLIANCE retention; under GOVERNANCE only with the bypass. Lifecycle and every other chore never bypass.
 */
export function mayDeleteVersion(lock: ObjectLock | undefined, now: number, bypassGovernance: boolean): boolean {
  if (lock?.legalHold) return false;
  const retention = activeRetention(lock, now);
  if (!retention) return true;
  return retention.mode === "GOVERNANCE" && bypassGovernance;
}

/** True while the version is protected from deletion by anyone (a chore's test: no bypass). */
export function isProtected(lock: ObjectLock | undefined, now: number): boolean {
  return !mayDeleteVersion(lock, now, false);
}

/**
 * Whether a version's retention may become `next` (null: removed). A COMPLIANCE retention can only be extended,
 * by anyone, and never changes mode; a GOVERNANCE one can be extended by anyone, but shortened, removed or turned
 * into COMPLIANCE only with the bypass (S3 answers AccessDenied without it).
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html#object-lock-retention-modes
 */
export function mayChangeRetention(current: ObjectLock | undefined, next: Retention | null, now: number, bypassGovernance: boolean): boolean {
  const active = activeRetention(current, now);
  if (!active) return true;
  const extendsSameMode = next !== null && next.mode === active.mode && next.retainUntil >= active.retainUntil;
  if (extendsSameMode) return true;
  return active.mode === "GOVERNANCE" && bypassGovernance;
}

// LifecycleConfiguration XML <-> rules (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketLifecycleConfiguration.html).
// Expiration (Days, Date or ExpiredObjectDeleteMarker), NoncurrentVersionExpiration and AbortIncompleteMultipartUpload
// are applied; transitions have nowhere to go (one storage class) and are refused rather than silently ignored.

import { randomHex } from "../protocol/crypto.ts";
import type { LifecycleRule } from "../services/lifecycle.ts";
import { S3Error } from "./errors.ts";
import { childText, parseXml, type XmlElement, type XmlNode } from "./xml.ts";

function child(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name);
}

function tagOf(el: XmlElement): [string, string] {
  const key = childText(el, "Key");
  if (key === undefined) throw new S3Error("MalformedXML");
  return [key, childText(el, "Value") ?? ""];
}

function positiveInt(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1) throw new S3Error("InvalidArgument", `${what} must be a positive integer.`);
  return Number(value);
}

function byteCount(el: XmlElement, name: string): number | undefined {
  const value = childText(el, name);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim())) throw new S3Error("InvalidArgument", `${name} must be a non-negative integer.`);
  return Number(value);
}

/** S3's limit on a rule ID (https://docs.aws.amazon.com/AmazonS3/latest/API/API_LifecycleRule.html, ID). */
const MAX_RULE_ID = 255;

const DAY_MS = 24 * 3600 * 1000;

/** The filter a rule gives, and how it was written (LifecycleRule.filterForm). */
type RuleFilter = Pick<LifecycleRule, "prefix" | "tags" | "objectSizeGreaterThan" | "objectSizeLessThan" | "filterForm">;

/**
 * A rule's filter: the older rule-level Prefix, or a Filter holding at most one of Prefix, Tag,
 * ObjectSizeGreaterThan and ObjectSizeLessThan, or an And of several
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_LifecycleRuleFilter.html). A rule names one or the other.
 */
function parseFilter(rule: XmlElement): RuleFilter {
  const legacy = childText(rule, "Prefix");
  const filter = child(rule, "Filter");
  if (legacy !== undefined && filter) throw new S3Error("MalformedXML", "A lifecycle rule has either a Prefix or a Filter, not both.");
  if (!filter) {
    if (legacy === undefined) throw new S3Error("MalformedXML", "A lifecycle rule needs a Filter (or the older Prefix).");
    return { prefix: legacy, tags: {}, filterForm: "Prefix" };
  }
  const and = child(filter, "And");
  const conditions = filter.children.filter((c) => ["Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan", "And"].includes(c.name));
  if (conditions.length > 1) throw new S3Error("MalformedXML", "A lifecycle Filter holds one condition; use And to combine them.");
  const scope = and ?? filter;
  const tags: Record<string, string> = {};
  for (const t of scope.children.filter((c) => c.name === "Tag")) {
    const [k, v] = tagOf(t);
    if (Object.hasOwn(tags, k)) throw new S3Error("InvalidRequest", "Duplicate Tag Keys are not allowed.");
    tags[k] = v;
  }
  const greater = byteCount(scope, "ObjectSizeGreaterThan");
  const less = byteCount(scope, "ObjectSizeLessThan");
  if (greater !== undefined && less !== undefined && greater >= less) {
    throw new S3Error("InvalidArgument", "ObjectSizeGreaterThan must be less than ObjectSizeLessThan.");
  }
  return {
    prefix: childText(scope, "Prefix") ?? "",
    tags,
    objectSizeGreaterThan: greater,
    objectSizeLessThan: less,
    filterForm: and ? "And" : conditions.length === 0 ? "EmptyFilter" : "Filter",
  };
}

/** Expiration/Date: an ISO 8601 date at midnight UTC, as S3 requires ("'Date' must be at midnight GMT"). */
function parseExpirationDate(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const date = Date.parse(text);
  if (Number.isNaN(date)) throw new S3Error("InvalidArgument", "Expiration Date must be an ISO 8601 date.");
  if (date % DAY_MS !== 0) throw new S3Error("InvalidArgument", "'Date' must be at midnight GMT");
  return date;
}

export function parseLifecycleXml(body: string): LifecycleRule[] {
  const doc = parseXml(body);
  if (!doc || doc.name !== "LifecycleConfiguration") throw new S3Error("MalformedXML");
  const rules = doc.children
    .filter((c) => c.name === "Rule")
    .map((r): LifecycleRule => {
      if (child(r, "Transition") || child(r, "NoncurrentVersionTransition")) {
        throw new S3Error("NotImplemented", "Lifecycle transitions are not supported: ICN Edge has one storage class.");
      }
      const status = childText(r, "Status");
      if (status !== "Enabled" && status !== "Disabled") throw new S3Error("MalformedXML", "Rule Status must be Enabled or Disabled.");
      const id = childText(r, "ID");
      if (id !== undefined && id.length > MAX_RULE_ID) throw new S3Error("InvalidArgument", `ID length should not exceed allowed limit of ${MAX_RULE_ID}`);
      const filter = parseFilter(r);

      const expiration = child(r, "Expiration");
      const days = expiration ? positiveInt(childText(expiration, "Days"), "Expiration Days") : undefined;
      const date = expiration ? parseExpirationDate(childText(expiration, "Date")) : undefined;
      const markerText = expiration ? childText(expiration, "ExpiredObjectDeleteMarker")?.trim() : undefined;
      if (markerText !== undefined && markerText !== "true" && markerText !== "false") throw new S3Error("MalformedXML");
      // An Expiration names exactly one of Days, Date and ExpiredObjectDeleteMarker (API_LifecycleExpiration).
      if (expiration && [days, date, markerText].filter((v) => v !== undefined).length !== 1) {
        throw new S3Error("MalformedXML", "An Expiration holds one of Days, Date or ExpiredObjectDeleteMarker.");
      }
      const expiredObjectDeleteMarker = markerText === "true" ? true : undefined;
      if (expiredObjectDeleteMarker && Object.keys(filter.tags).length > 0) {
        throw new S3Error("InvalidArgument", "ExpiredObjectDeleteMarker cannot be specified with a tag-based filter.");
      }
      const noncurrent = child(r, "NoncurrentVersionExpiration");
      const newer = noncurrent ? positiveInt(childText(noncurrent, "NewerNoncurrentVersions"), "NewerNoncurrentVersions") : undefined;
      if (newer !== undefined && newer > 100) throw new S3Error("InvalidArgument", "NewerNoncurrentVersions must be between 1 and 100.");
      const noncurrentDays = noncurrent ? positiveInt(childText(noncurrent, "NoncurrentDays"), "NoncurrentDays") : undefined;
      if (noncurrent && noncurrentDays === undefined) throw new S3Error("MalformedXML", "NoncurrentVersionExpiration needs NoncurrentDays.");
      const abort = child(r, "AbortIncompleteMultipartUpload");
      const rule: LifecycleRule = {
        // S3 names a rule given without an ID itself (API_LifecycleRule, ID).
        id: id ?? randomHex(16),
        enabled: status === "Enabled",
        ...filter,
        expirationDays: days,
        expirationDate: date,
        expiredObjectDeleteMarker,
        noncurrentDays,
        newerNoncurrentVersions: newer,
        abortIncompleteMultipartUploadDays: abort ? positiveInt(childText(abort, "DaysAfterInitiation"), "DaysAfterInitiation") : undefined,
      };
      if (
        rule.expirationDays === undefined &&
        rule.expirationDate === undefined &&
        markerText === undefined &&
        rule.noncurrentDays === undefined &&
        rule.abortIncompleteMultipartUploadDays === undefined
      ) {
        throw new S3Error("MalformedXML", "A lifecycle rule needs an Expiration, NoncurrentVersionExpiration or AbortIncompleteMultipartUpload action.");
      }
      return rule;
    });
  if (rules.length === 0 || rules.length > 1000) throw new S3Error("MalformedXML", "A lifecycle configuration holds between 1 and 1000 rules.");
  const ids = rules.map((r) => r.id);
  if (new Set(ids).size !== ids.length) throw new S3Error("InvalidArgument", "Rule ID must be unique. Found same ID for more than one rule");
  return rules;
}

/** The rule's filter as it was set (LifecycleRule.filterForm); rules stored before that was recorded get the shortest form. */
function filterXml(r: LifecycleRule): { Prefix?: string; Filter?: XmlNode } {
  const tagList = Object.entries(r.tags).map(([Key, Value]) => ({ Key, Value }));
  const sizes = { ObjectSizeGreaterThan: r.objectSizeGreaterThan, ObjectSizeLessThan: r.objectSizeLessThan };
  switch (r.filterForm) {
    case "Prefix":
      return { Prefix: r.prefix };
    case "EmptyFilter":
      return { Filter: {} };
    case "And":
      return { Filter: { And: { Prefix: r.prefix || undefined, Tag: tagList, ...sizes } } };
    case "Filter":
      if (tagList.length === 1) return { Filter: { Tag: tagList[0] } };
      if (r.objectSizeGreaterThan !== undefined || r.objectSizeLessThan !== undefined) return { Filter: sizes };
      return { Filter: { Prefix: r.prefix } };
    case undefined:
      return { Filter: tagList.length === 0 ? { Prefix: r.prefix } : tagList.length === 1 && !r.prefix ? { Tag: tagList[0] } : { And: { Prefix: r.prefix || undefined, Tag: tagList } } };
  }
}

export function lifecycleXml(rules: LifecycleRule[]): XmlNode {
  return {
    Rule: rules.map((r) => ({
      ID: r.id,
      ...filterXml(r),
      Status: r.enabled ? "Enabled" : "Disabled",
      Expiration:
        r.expirationDays !== undefined || r.expirationDate !== undefined || r.expiredObjectDeleteMarker
          ? {
              Days: r.expirationDays,
              Date: r.expirationDate !== undefined ? new Date(r.expirationDate).toISOString().replace(".000Z", "Z") : undefined,
              ExpiredObjectDeleteMarker: r.expiredObjectDeleteMarker,
            }
          : undefined,
      NoncurrentVersionExpiration:
        r.noncurrentDays !== undefined ? { NoncurrentDays: r.noncurrentDays, NewerNoncurrentVersions: r.newerNoncurrentVersions } : undefined,
      AbortIncompleteMultipartUpload: r.abortIncompleteMultipartUploadDays !== undefined ? { DaysAfterInitiation: r.abortIncompleteMultipartUploadDays } : undefined,
    })),
  };
}

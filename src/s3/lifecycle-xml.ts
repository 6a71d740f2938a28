// LifecycleConfiguration XML <-> rules (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketLifecycleConfiguration.html).
// Expiration (Days or Date) and AbortIncompleteMultipartUpload are applied; transitions have nowhere to go
// (one storage class) and are refused rather than silently ignored.

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
      let prefix = childText(r, "Prefix") ?? "";
      const tags: Record<string, string> = {};
      const filter = child(r, "Filter");
      if (filter) {
        const and = child(filter, "And");
        const scope = and ?? filter;
        prefix = childText(scope, "Prefix") ?? prefix;
        for (const t of scope.children.filter((c) => c.name === "Tag")) {
          const [k, v] = tagOf(t);
          tags[k] = v;
        }
        if (child(filter, "ObjectSizeGreaterThan") || child(filter, "ObjectSizeLessThan") || (and && (child(and, "ObjectSizeGreaterThan") || child(and, "ObjectSizeLessThan")))) {
          throw new S3Error("NotImplemented", "Lifecycle size filters are not supported.");
        }
      }
      const expiration = child(r, "Expiration");
      const dateText = expiration ? childText(expiration, "Date") : undefined;
      const date = dateText === undefined ? undefined : Date.parse(dateText);
      if (date !== undefined && Number.isNaN(date)) throw new S3Error("InvalidArgument", "Expiration Date must be an ISO 8601 date.");
      const abort = child(r, "AbortIncompleteMultipartUpload");
      const rule: LifecycleRule = {
        id: childText(r, "ID"),
        enabled: status === "Enabled",
        prefix,
        tags,
        expirationDays: expiration ? positiveInt(childText(expiration, "Days"), "Expiration Days") : undefined,
        expirationDate: date,
        abortIncompleteMultipartUploadDays: abort ? positiveInt(childText(abort, "DaysAfterInitiation"), "DaysAfterInitiation") : undefined,
      };
      if (rule.expirationDays === undefined && rule.expirationDate === undefined && rule.abortIncompleteMultipartUploadDays === undefined) {
        throw new S3Error("MalformedXML", "A lifecycle rule needs an Expiration or an AbortIncompleteMultipartUpload action.");
      }
      return rule;
    });
  if (rules.length === 0 || rules.length > 1000) throw new S3Error("MalformedXML", "A lifecycle configuration holds between 1 and 1000 rules.");
  return rules;
}

export function lifecycleXml(rules: LifecycleRule[]): XmlNode {
  return {
    Rule: rules.map((r) => {
      const tagList = Object.entries(r.tags).map(([Key, Value]) => ({ Key, Value }));
      const filter = tagList.length === 0 ? { Prefix: r.prefix } : tagList.length === 1 && !r.prefix ? { Tag: tagList[0] } : { And: { Prefix: r.prefix || undefined, Tag: tagList } };
      return {
        ID: r.id,
        Filter: filter,
        Status: r.enabled ? "Enabled" : "Disabled",
        Expiration:
          r.expirationDays !== undefined || r.expirationDate !== undefined
            ? { Days: r.expirationDays, Date: r.expirationDate !== undefined ? new Date(r.expirationDate).toISOString() : undefined }
            : undefined,
        AbortIncompleteMultipartUpload: r.abortIncompleteMultipartUploadDays !== undefined ? { DaysAfterInitiation: r.abortIncompleteMultipartUploadDays } : undefined,
      };
    }),
  };
}

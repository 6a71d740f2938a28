// The Condition element's operators, and the condition keys S3 defines: what a policy may write (checked when it
// is put) and how each operator compares a request's values with the policy's.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html

import { cidrContains, parseCidr, parseIpAddress } from "./ip-address.ts";
import { wildcardMatch } from "./wildcard.ts";

/** How an operator compares one request value with one policy value; `negated` operators invert the match. */
interface OperatorKind {
  match(requestValue: string, policyValue: string): boolean;
  /** The policy value is well-formed for this operator. */
  valid(policyValue: string): boolean;
  negated: boolean;
}

const always = () => true;
const number = (s: string) => (/^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/.test(s) ? Number(s) : undefined);
/** An ISO 8601 date/time, or seconds since the epoch (both are accepted by IAM's Date operators). */
const date = (s: string) => (/^\d+$/.test(s.trim()) ? Number(s) * 1000 : /^\d{4}-\d{2}-\d{2}/.test(s.trim()) ? Date.parse(s) : Number.NaN);
const numeric = (compare: (a: number, b: number) => boolean, negated = false): OperatorKind => ({
  match: (r, p) => {
    const a = number(r);
    const b = number(p);
    return a !== undefined && b !== undefined && compare(a, b);
  },
  valid: (p) => number(p) !== undefined,
  negated,
});
const dated = (compare: (a: number, b: number) => boolean, negated = false): OperatorKind => ({
  match: (r, p) => {
    const a = date(r);
    const b = date(p);
    return !Number.isNaN(a) && !Number.isNaN(b) && compare(a, b);
  },
  valid: (p) => !Number.isNaN(date(p)),
  negated,
});
const ipMatch = (r: string, p: string) => {
  const address = parseIpAddress(r);
  const block = parseCidr(p);
  return address !== undefined && block !== undefined && cidrContains(block, address);
};
/** ARNs compare segment by segment (arn:partition:service:region:account:resource), each with * and ? wildcards. */
const arnMatch = (r: string, p: string) => {
  const request = r.split(":");
  const policy = p.split(":");
  if (request.length < 6 || policy.length < 6) return false;
  const head = (parts: string[]) => parts.slice(0, 5);
  const resource = (parts: string[]) => parts.slice(5).join(":");
  return head(policy).every((segment, i) => wildcardMatch(segment, head(request)[i]!)) && wildcardMatch(resource(policy), resource(request));
};
const arnValid = (p: string) => p === "*" || (p.startsWith("arn:") && p.split(":").length >= 6);

const OPERATORS: Record<string, OperatorKind> = {
  StringEquals: { match: (r, p) => r === p, valid: always, negated: false },
  StringNotEquals: { match: (r, p) => r === p, valid: always, negated: true },
  StringEqualsIgnoreCase: { match: (r, p) => r.toLowerCase() === p.toLowerCase(), valid: always, negated: false },
  StringNotEqualsIgnoreCase: { match: (r, p) => r.toLowerCase() === p.toLowerCase(), valid: always, negated: true },
  StringLike: { match: (r, p) => wildcardMatch(p, r), valid: always, negated: false },
  StringNotLike: { match: (r, p) => wildcardMatch(p, r), valid: always, negated: true },
  NumericEquals: numeric((a, b) => a === b),
  NumericNotEquals: numeric((a, b) => a === b, true),
  NumericLessThan: numeric((a, b) => a < b),
  NumericLessThanEquals: numeric((a, b) => a <= b),
  NumericGreaterThan: numeric((a, b) => a > b),
  NumericGreaterThanEquals: numeric((a, b) => a >= b),
  DateEquals: dated((a, b) => a === b),
  DateNotEquals: dated((a, b) => a === b, true),
  DateLessThan: dated((a, b) => a < b),
  DateLessThanEquals: dated((a, b) => a <= b),
  DateGreaterThan: dated((a, b) => a > b),
  DateGreaterThanEquals: dated((a, b) => a >= b),
  Bool: { match: (r, p) => r.toLowerCase() === p.toLowerCase(), valid: (p) => /^(true|false)$/i.test(p), negated: false },
  BinaryEquals: { match: (r, p) => r === p, valid: (p) => /^[A-Za-z0-9+/]*={0,2}$/.test(p), negated: false },
  IpAddress: { match: ipMatch, valid: (p) => parseCidr(p) !== undefined, negated: false },
  NotIpAddress: { match: ipMatch, valid: (p) => parseCidr(p) !== undefined, negated: true },
  ArnEquals: { match: arnMatch, valid: arnValid, negated: false },
  ArnLike: { match: arnMatch, valid: arnValid, negated: false },
  ArnNotEquals: { match: arnMatch, valid: arnValid, negated: true },
  ArnNotLike: { match: arnMatch, valid: arnValid, negated: true },
};

/** One operator as written: `[ForAnyValue:|ForAllValues:]Name[IfExists]`, or Null. */
export interface ConditionOperator {
  name: string;
  quantifier?: "ForAnyValue" | "ForAllValues";
  ifExists: boolean;
}

/** Parses an operator name; undefined when IAM does not define it. */
export function parseConditionOperator(text: string): ConditionOperator | undefined {
  const quantified = /^(ForAnyValue|ForAllValues):(.+)$/.exec(text);
  const quantifier = quantified?.[1] as ConditionOperator["quantifier"];
  let name = quantified?.[2] ?? text;
  if (name === "Null") return quantifier ? undefined : { name, ifExists: false };
  const ifExists = name.endsWith("IfExists");
  if (ifExists) name = name.slice(0, -"IfExists".length);
  return Object.hasOwn(OPERATORS, name) ? { name, quantifier, ifExists } : undefined;
}

/** Is `value` a well-formed policy value for this operator (a number for Numeric*, a CIDR block for IpAddress ...)? */
export function validConditionValue(operator: ConditionOperator, value: string): boolean {
  if (operator.name === "Null") return /^(true|false)$/i.test(value);
  return OPERATORS[operator.name]!.valid(value);
}

/**
 * One operator on one key. `requestValues` is undefined when the request has no such key. Without a set
 * quantifier a key's value matches when it equals any policy value (a negated operator: when it equals none);
 * a missing key fails a positive operator and passes a negated one, unless IfExists makes it pass.
 * ForAnyValue: at least one request value must satisfy the operator (nothing to test: false).
 * ForAllValues: every request value must (nothing to test: true).
 */
export function conditionHolds(operator: ConditionOperator, policyValues: readonly string[], requestValues: readonly string[] | undefined): boolean {
  if (operator.name === "Null") {
    const absent = requestValues === undefined || requestValues.length === 0;
    return policyValues.some((v) => (v.toLowerCase() === "true") === absent);
  }
  const kind = OPERATORS[operator.name]!;
  const one = (value: string) => {
    const any = policyValues.some((p) => kind.match(value, p));
    return kind.negated ? !any : any;
  };
  if (requestValues === undefined || requestValues.length === 0) {
    if (operator.quantifier === "ForAllValues") return true;
    if (operator.quantifier === "ForAnyValue") return false;
    return operator.ifExists || kind.negated;
  }
  if (operator.quantifier === "ForAllValues") return requestValues.every(one);
  if (operator.quantifier === "ForAnyValue") return requestValues.some(one);
  // A multivalued key without a quantifier: a positive operator needs one of its values to match; a negated one
  // needs none to.
  const any = requestValues.some((value) => policyValues.some((p) => kind.match(value, p)));
  return kind.negated ? !any : any;
}

/**
 * The condition keys a bucket policy may test: S3's own (list_amazons3.html, "Condition keys") and the global aws:
 * keys (reference_policies_condition-keys.html). Keys are case-insensitive; the tag key after
 * `s3:ExistingObjectTag/` and `s3:RequestObjectTag/` is not.
 */
const S3_CONDITION_KEYS = new Set(
  [
    "s3:AccessGrantsInstanceArn", "s3:authType", "s3:delimiter", "s3:DataAccessPointAccount", "s3:DataAccessPointArn",
    "s3:AccessPointNetworkOrigin", "s3:LocationConstraint", "s3:max-keys", "s3:object-lock-legal-hold",
    "s3:object-lock-mode", "s3:object-lock-remaining-retention-days", "s3:object-lock-retain-until-date", "s3:prefix",
    "s3:RequestObjectTagKeys", "s3:ResourceAccount", "s3:signatureAge", "s3:signatureversion", "s3:TlsVersion",
    "s3:VersionId", "s3:x-amz-acl", "s3:x-amz-content-sha256", "s3:x-amz-copy-source", "s3:x-amz-grant-full-control",
    "s3:x-amz-grant-read", "s3:x-amz-grant-read-acp", "s3:x-amz-grant-write", "s3:x-amz-grant-write-acp",
    "s3:x-amz-metadata-directive", "s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:x-amz-server-side-encryption-customer-algorithm", "s3:x-amz-storage-class", "s3:x-amz-website-redirect-location",
    "s3:x-amz-object-ownership", "s3:ExistingJobOperation", "s3:ExistingJobPriority", "s3:JobSuspendedCause",
    "s3:RequestJobOperation", "s3:RequestJobPriority",
  ].map((k) => k.toLowerCase()),
);

/** The key as looked up in a request's context: lowercase, except the tag key of the two tag families. */
export function normalizeConditionKey(key: string): string {
  const tagged = /^(s3:ExistingObjectTag|s3:RequestObjectTag|aws:RequestTag|aws:ResourceTag|aws:PrincipalTag)\/(.+)$/i.exec(key);
  return tagged ? `${tagged[1]!.toLowerCase()}/${tagged[2]}` : key.toLowerCase();
}

export function knownConditionKey(key: string): boolean {
  const normalized = normalizeConditionKey(key);
  if (/^aws:[A-Za-z]/.test(normalized)) return true;
  if (/^s3:(existingobjecttag|requestobjecttag)\/.+/.test(normalized)) return true;
  return S3_CONDITION_KEYS.has(normalized);
}

// A bucket policy as PutBucketPolicy receives it: parsed and checked once, so evaluation works on a value that is
// known to be well-formed. Anything S3 would refuse is 400 MalformedPolicy with the reason.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-policies.html

import { S3Error } from "../errors.ts";
import { S3_ACTIONS } from "./actions.ts";
import { knownConditionKey, normalizeConditionKey, parseConditionOperator, validConditionValue, type ConditionOperator } from "./conditions.ts";
import { wildcardMatch } from "./wildcard.ts";

/** "Bucket policies are limited to 20 KB in size." (AmazonS3/latest/userguide/bucket-policies.html) */
export const MAX_POLICY_BYTES = 20 * 1024;

/** Who a statement names: everyone ("*", {"AWS": "*"}), or accounts by id. */
export type PrincipalSet = { everyone: true } | { everyone: false; accounts: string[] };

export interface PolicyCondition {
  operator: ConditionOperator;
  /** As looked up in the request context (normalizeConditionKey). */
  key: string;
  values: string[];
}

export interface PolicyStatement {
  sid?: string;
  effect: "Allow" | "Deny";
  principals: PrincipalSet;
  /** NotPrincipal: the statement applies to everyone except `principals`. */
  notPrincipal: boolean;
  /** Action patterns (`s3:Get*`, `*`), compared case-insensitively. */
  actions: string[];
  notAction: boolean;
  /** Resource ARN patterns (`arn:aws:s3:::bucket/*`), compared case-sensitively. */
  resources: string[];
  notResource: boolean;
  /** Every condition must hold. */
  conditions: PolicyCondition[];
}

export interface BucketPolicy {
  /** 2012-10-17 enables policy variables (${aws:username}); 2008-10-17, or no Version, does not. */
  version: "2008-10-17" | "2012-10-17";
  statements: PolicyStatement[];
}

const POLICY_FIELDS = new Set(["Version", "Id", "Statement"]);
const STATEMENT_FIELDS = new Set(["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"]);
const KNOWN_ACTIONS = S3_ACTIONS.map((a) => a.toLowerCase());
/** An account as a principal names it: our account ids (acc_...), or a 12-digit AWS-style id. */
const ACCOUNT_ID = /^(acc_[0-9a-z]+|\d{12})$/i;

function malformed(message: string): S3Error {
  return new S3Error("MalformedPolicy", message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A string or a non-empty array of strings, as IAM writes lists; anything else is `what` refused. */
function stringList(value: unknown, what: string): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 || !list.every((v) => typeof v === "string" && v !== "")) throw malformed(what);
  return list as string[];
}

/** Parses and checks a policy for `bucket`; throws MalformedPolicy with the reason S3 would give. */
export function parseBucketPolicy(text: string, bucket: string): BucketPolicy {
  if (new TextEncoder().encode(text).length > MAX_POLICY_BYTES) throw malformed(`Policies must not exceed ${MAX_POLICY_BYTES} bytes.`);
  if (!text.trimStart().startsWith("{")) throw malformed("Policies must be valid JSON and the first byte must be '{'");
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw malformed("This policy contains invalid Json");
  }
  if (!isObject(doc)) throw malformed("Policies must be valid JSON and the first byte must be '{'");
  for (const field of Object.keys(doc)) if (!POLICY_FIELDS.has(field)) throw malformed(`Unknown field ${field}`);
  const version = doc.Version ?? "2008-10-17";
  if (version !== "2008-10-17" && version !== "2012-10-17") throw malformed("The policy must contain a valid version string");
  if (doc.Id !== undefined && typeof doc.Id !== "string") throw malformed("Id must be a string");
  if (doc.Statement === undefined) throw malformed("Missing required field Statement");
  const raw = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
  if (raw.length === 0) throw malformed("Could not parse the policy: Statement is empty!");
  const statements = raw.map((s) => parseStatement(s, bucket));
  const sids = statements.map((s) => s.sid).filter((sid) => sid !== undefined);
  if (new Set(sids).size !== sids.length) throw malformed("Statement IDs (SID) in a single policy must be unique");
  return { version, statements };
}

function parseStatement(raw: unknown, bucket: string): PolicyStatement {
  if (!isObject(raw)) throw malformed("Each Statement must be a JSON object");
  for (const field of Object.keys(raw)) if (!STATEMENT_FIELDS.has(field)) throw malformed(`Unknown field ${field}`);
  if (raw.Sid !== undefined && (typeof raw.Sid !== "string" || !/^[A-Za-z0-9 ]*$/.test(raw.Sid))) throw malformed("Statement IDs (SID) must be alphanumeric");
  if (raw.Effect !== "Allow" && raw.Effect !== "Deny") {
    throw malformed(raw.Effect === undefined ? "Missing required field Effect" : "Invalid effect: Effect must be Allow or Deny");
  }
  const principal = oneOf(raw, "Principal", "NotPrincipal");
  const action = oneOf(raw, "Action", "NotAction");
  const resource = oneOf(raw, "Resource", "NotResource");
  return {
    sid: raw.Sid as string | undefined,
    effect: raw.Effect,
    principals: parsePrincipal(principal.value),
    notPrincipal: principal.negated,
    actions: parseActions(action.value),
    notAction: action.negated,
    resources: parseResources(resource.value, bucket),
    notResource: resource.negated,
    conditions: raw.Condition === undefined ? [] : parseConditions(raw.Condition),
  };
}

/** Exactly one of an element and its Not form; a bucket policy needs a principal, an action and a resource. */
function oneOf(raw: Record<string, unknown>, name: string, notName: string): { value: unknown; negated: boolean } {
  const has = raw[name] !== undefined;
  const hasNot = raw[notName] !== undefined;
  if (has && hasNot) throw malformed(`A statement cannot have both ${name} and ${notName}`);
  if (!has && !hasNot) throw malformed(`Missing required field ${name}`);
  return has ? { value: raw[name], negated: false } : { value: raw[notName], negated: true };
}

function parsePrincipal(value: unknown): PrincipalSet {
  const invalid = () => malformed("Invalid principal in policy");
  if (value === "*") return { everyone: true };
  if (!isObject(value)) throw invalid();
  const kinds = Object.keys(value);
  // Only accounts are principals here: there are no IAM users, roles, services or federated identities to name.
  if (kinds.length !== 1 || kinds[0] !== "AWS") throw invalid();
  const entries = stringList(value.AWS, "Invalid principal in policy");
  if (entries.includes("*")) return { everyone: true };
  const accounts = entries.map((entry) => {
    const arn = /^arn:aws:iam::([^:]+):root$/.exec(entry);
    const id = arn ? arn[1]! : entry;
    if (!ACCOUNT_ID.test(id)) throw invalid();
    return id;
  });
  return { everyone: false, accounts };
}

function parseActions(value: unknown): string[] {
  const actions = stringList(value, "Policy has invalid action");
  for (const action of actions) {
    if (action === "*") continue;
    const pattern = action.toLowerCase();
    if (!pattern.startsWith("s3:") || !KNOWN_ACTIONS.some((known) => wildcardMatch(pattern, known))) throw malformed("Policy has invalid action");
  }
  return actions;
}

/** Every resource must be this bucket or objects in it: "Policy has invalid resource" otherwise, as S3 answers. */
function parseResources(value: unknown, bucket: string): string[] {
  const resources = stringList(value, "Policy has invalid resource");
  for (const resource of resources) {
    if (resource === "*") continue;
    if (!resource.startsWith("arn:aws:s3:::")) throw malformed("Policy has invalid resource");
    const path = resource.slice("arn:aws:s3:::".length);
    const bucketPart = path.split("/")[0]!;
    if (bucketPart.includes("${")) continue; // a policy variable: decided per request
    const wildcard = bucketPart.search(/[*?]/);
    const fits = wildcard < 0 ? bucketPart === bucket : bucket.startsWith(bucketPart.slice(0, wildcard)) || path.startsWith("*");
    if (!fits) throw malformed("Policy has invalid resource");
  }
  return resources;
}

function parseConditions(value: unknown): PolicyCondition[] {
  if (!isObject(value)) throw malformed("Condition must be a JSON object");
  const conditions: PolicyCondition[] = [];
  for (const [operatorText, block] of Object.entries(value)) {
    const operator = parseConditionOperator(operatorText);
    if (!operator) throw malformed(`Invalid Condition type : ${operatorText}`);
    if (!isObject(block) || Object.keys(block).length === 0) throw malformed(`Condition ${operatorText} must map condition keys to values`);
    for (const [key, raw] of Object.entries(block)) {
      if (!knownConditionKey(key)) throw malformed(`Policy has an invalid condition key: ${key}`);
      const list = Array.isArray(raw) ? raw : [raw];
      if (list.length === 0 || !list.every((v) => ["string", "number", "boolean"].includes(typeof v))) {
        throw malformed(`Condition ${operatorText} on ${key} needs a string, number or boolean value, or a list of them`);
      }
      const values = list.map(String);
      for (const v of values) if (!v.includes("${") && !validConditionValue(operator, v)) throw malformed(`Invalid value ${JSON.stringify(v)} for condition ${operatorText} on ${key}`);
      conditions.push({ operator, key: normalizeConditionKey(key), values });
    }
  }
  return conditions;
}

/** The accounts a policy names as principals (to check they exist). */
export function accountsNamedIn(policy: BucketPolicy): string[] {
  return [...new Set(policy.statements.flatMap((s) => (s.principals.everyone ? [] : s.principals.accounts)))];
}

/** Does any condition test the tags of the object already stored (s3:ExistingObjectTag/<key>)? */
export function readsExistingObjectTags(policy: BucketPolicy): boolean {
  return policy.statements.some((s) => s.conditions.some((c) => c.key.startsWith("s3:existingobjecttag/")));
}

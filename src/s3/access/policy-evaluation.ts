// Evaluating a bucket policy for one request, as IAM does: a statement applies when its principal, action,
// resource and every condition match; any applicable Deny decides, else any applicable Allow, else the policy
// says nothing. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
// Pure: the request's facts come in as an AccessRequest (request-context.ts builds it at the edge).

import { conditionHolds, normalizeConditionKey } from "./conditions.ts";
import type { BucketPolicy, PolicyStatement } from "./policy-document.ts";
import { wildcardMatch } from "./wildcard.ts";

export interface AccessRequest {
  /** The caller's account, or null when the request is anonymous. */
  accountId: string | null;
  /** The IAM action, e.g. "s3:GetObject". */
  action: string;
  /** The resource ARN: arn:aws:s3:::bucket or arn:aws:s3:::bucket/key. */
  resource: string;
  /** The condition keys this request has (names as normalizeConditionKey writes them) and their values. */
  context: ReadonlyMap<string, readonly string[]>;
}

export type PolicyDecision = "Allow" | "Deny" | "NotApplicable";

export function resourceArn(bucket: string, key?: string): string {
  return key === undefined ? `arn:aws:s3:::${bucket}` : `arn:aws:s3:::${bucket}/${key}`;
}

export function evaluatePolicy(policy: BucketPolicy, request: AccessRequest): PolicyDecision {
  let allowed = false;
  for (const statement of policy.statements) {
    if (!applies(statement, request, policy.version === "2012-10-17")) continue;
    if (statement.effect === "Deny") return "Deny";
    allowed = true;
  }
  return allowed ? "Allow" : "NotApplicable";
}

function applies(statement: PolicyStatement, request: AccessRequest, variables: boolean): boolean {
  const principal = statement.principals.everyone || (request.accountId !== null && statement.principals.accounts.includes(request.accountId));
  if (principal === statement.notPrincipal) return false;
  const action = statement.actions.some((pattern) => wildcardMatch(pattern, request.action, true));
  if (action === statement.notAction) return false;
  const resource = statement.resources.some((pattern) => {
    const resolved = variables ? substitute(pattern, request.context) : pattern;
    return resolved !== undefined && wildcardMatch(resolved, request.resource);
  });
  if (resource === statement.notResource) return false;
  return statement.conditions.every((condition) => {
    const values = variables ? condition.values.flatMap((v) => substitute(v, request.context) ?? []) : condition.values;
    return conditionHolds(condition.operator, values, request.context.get(condition.key));
  });
}

/**
 * Policy variables (Version 2012-10-17): ${key} is the request's value of that key, ${key, 'default'} falls back
 * to the default, and ${*}, ${?}, ${$} are the literal characters. A variable whose key the request lacks (and no
 * default) leaves nothing that can match: undefined.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
 */
function substitute(text: string, context: AccessRequest["context"]): string | undefined {
  if (!text.includes("${")) return text;
  let missing = false;
  const out = text.replace(/\$\{([^}]*)\}/g, (_, inner: string) => {
    if (inner === "*" || inner === "?" || inner === "$") return inner;
    const m = /^\s*([^,\s]+)\s*(?:,\s*'([^']*)'\s*)?$/.exec(inner);
    const value = m ? context.get(normalizeConditionKey(m[1]!))?.[0] ?? m[2] : undefined;
    if (value === undefined) missing = true;
    return value ?? "";
  });
  return missing ? undefined : out;
}

// GetBucketPolicyStatus's IsPublic: S3 calls a bucket policy public unless each statement that allows everyone
// is limited to fixed values of the keys that pin a caller down.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html#access-control-block-public-access-policy-status
// ("The meaning of public": fixed values contain no wildcard and no policy variable.)

import { parseCidr } from "./ip-address.ts";
import type { BucketPolicy, PolicyCondition, PolicyStatement } from "./policy-document.ts";

/** Keys that, held to fixed values, keep an Allow-for-everyone statement from being public. */
const PINNING_KEYS = new Set([
  "aws:sourceip",
  "aws:sourcearn",
  "aws:sourcevpc",
  "aws:sourcevpce",
  "aws:sourceowner",
  "aws:sourceaccount",
  "aws:principalaccount",
  "aws:principalorgid",
  "aws:userid",
  "s3:x-amz-server-side-encryption-aws-kms-key-id",
  "s3:dataaccesspointarn",
  "s3:dataaccesspointaccount",
]);

/** Operators whose match is a fixed set of values (Like operators only when the values have no wildcard). */
const PINNING_OPERATORS = new Set(["StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike", "IpAddress"]);

export function isPublicPolicy(policy: BucketPolicy): boolean {
  return policy.statements.some(isPublicStatement);
}

function isPublicStatement(statement: PolicyStatement): boolean {
  if (statement.effect !== "Allow") return false;
  // NotPrincipal in an Allow grants everyone but the accounts it names.
  if (!statement.notPrincipal && !statement.principals.everyone) return false;
  return !statement.conditions.some(pinsCaller);
}

function pinsCaller(condition: PolicyCondition): boolean {
  const { operator, key, values } = condition;
  if (!PINNING_KEYS.has(key) || !PINNING_OPERATORS.has(operator.name) || operator.ifExists || operator.quantifier === "ForAllValues") return false;
  // A "range" of every address (0.0.0.0/0, ::/0) limits nothing.
  if (operator.name === "IpAddress" && values.some((v) => parseCidr(v)?.prefix === 0)) return false;
  return values.every((v) => !/[*?]/.test(v) && !v.includes("${"));
}

// The bucket policy language on its own: what PutBucketPolicy refuses as MalformedPolicy, and how a parsed policy
// decides a request (principals, actions, resources, every condition operator, IfExists, set quantifiers,
// policy variables, explicit deny).

import { describe, expect, it } from "vitest";
import { S3Error } from "../../src/s3/errors.ts";
import { conditionHolds, parseConditionOperator } from "../../src/s3/access/conditions.ts";
import { cidrContains, parseCidr, parseIpAddress } from "../../src/s3/access/ip-address.ts";
import { parseBucketPolicy, type BucketPolicy } from "../../src/s3/access/policy-document.ts";
import { evaluatePolicy, resourceArn, type AccessRequest } from "../../src/s3/access/policy-evaluation.ts";
import { isPublicPolicy } from "../../src/s3/access/policy-status.ts";
import { wildcardMatch } from "../../src/s3/access/wildcard.ts";

const BUCKET = "photos";
const ALICE = "acc_00000000000000a1";
const BOB = "acc_00000000000000b2";

function policy(...statements: object[]): BucketPolicy {
  return parseBucketPolicy(JSON.stringify({ Version: "2012-10-17", Statement: statements }), BUCKET);
}

function request(overrides: Partial<Omit<AccessRequest, "context">> & { context?: Record<string, string | string[]> } = {}): AccessRequest {
  const context = new Map(Object.entries(overrides.context ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]));
  return { accountId: BOB, action: "s3:GetObject", resource: resourceArn(BUCKET, "a/b.jpg"), ...overrides, context };
}

function malformed(text: string): string {
  try {
    parseBucketPolicy(text, BUCKET);
  } catch (error) {
    if (error instanceof S3Error && error.code === "MalformedPolicy" && error.status === 400) return error.message;
    throw error;
  }
  throw new Error(`accepted: ${text}`);
}

const allowAll = { Effect: "Allow", Principal: "*", Action: "s3:*", Resource: ["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"] };

describe("MalformedPolicy", () => {
  it("refuses what is not a JSON object", () => {
    expect(malformed("not json")).toMatch(/first byte must be '\{'/);
    expect(malformed("{ nope")).toBe("This policy contains invalid Json");
    expect(malformed("[]")).toMatch(/first byte/);
  });

  it("refuses a bad version, unknown fields, a missing or empty Statement and duplicate Sids", () => {
    expect(malformed(JSON.stringify({ Version: "2020-01-01", Statement: [allowAll] }))).toBe("The policy must contain a valid version string");
    expect(malformed(JSON.stringify({ Statement: [allowAll], Extra: 1 }))).toBe("Unknown field Extra");
    expect(malformed(JSON.stringify({ Version: "2012-10-17" }))).toBe("Missing required field Statement");
    expect(malformed(JSON.stringify({ Statement: [] }))).toMatch(/Statement is empty/);
    expect(malformed(JSON.stringify({ Statement: [{ ...allowAll, Sid: "a" }, { ...allowAll, Sid: "a" }] }))).toMatch(/must be unique/);
    expect(malformed(JSON.stringify({ Statement: [{ ...allowAll, Colour: "red" }] }))).toBe("Unknown field Colour");
  });

  it("refuses statements without an Effect, principal, action or resource, or with both forms of one", () => {
    const { Effect: _e, ...noEffect } = allowAll;
    expect(malformed(JSON.stringify({ Statement: noEffect }))).toBe("Missing required field Effect");
    expect(malformed(JSON.stringify({ Statement: { ...allowAll, Effect: "Maybe" } }))).toMatch(/Effect must be Allow or Deny/);
    const { Principal: _p, ...noPrincipal } = allowAll;
    expect(malformed(JSON.stringify({ Statement: noPrincipal }))).toBe("Missing required field Principal");
    const { Action: _a, ...noAction } = allowAll;
    expect(malformed(JSON.stringify({ Statement: noAction }))).toBe("Missing required field Action");
    const { Resource: _r, ...noResource } = allowAll;
    expect(malformed(JSON.stringify({ Statement: noResource }))).toBe("Missing required field Resource");
    expect(malformed(JSON.stringify({ Statement: { ...allowAll, NotAction: "s3:GetObject" } }))).toMatch(/both Action and NotAction/);
  });

  it("refuses principals that are not accounts, actions S3 does not define and resources outside the bucket", () => {
    const with_ = (o: object) => JSON.stringify({ Statement: { ...allowAll, ...o } });
    expect(malformed(with_({ Principal: { Service: "logging.s3.amazonaws.com" } }))).toBe("Invalid principal in policy");
    expect(malformed(with_({ Principal: { AWS: "arn:aws:iam::not an account:root" } }))).toBe("Invalid principal in policy");
    expect(malformed(with_({ Principal: "alice" }))).toBe("Invalid principal in policy");
    expect(malformed(with_({ Action: "s3:GetObjekt" }))).toBe("Policy has invalid action");
    expect(malformed(with_({ Action: "ec2:RunInstances" }))).toBe("Policy has invalid action");
    expect(malformed(with_({ Action: [] }))).toBe("Policy has invalid action");
    expect(malformed(with_({ Resource: "arn:aws:s3:::other-bucket/*" }))).toBe("Policy has invalid resource");
    expect(malformed(with_({ Resource: "arn:aws:sqs:::photos" }))).toBe("Policy has invalid resource");
  });

  it("refuses unknown condition operators and keys, and values an operator cannot compare", () => {
    const cond = (c: object) => JSON.stringify({ Statement: { ...allowAll, Condition: c } });
    expect(malformed(cond({ StringEqualz: { "s3:prefix": "a" } }))).toBe("Invalid Condition type : StringEqualz");
    expect(malformed(cond({ "ForSomeValues:StringEquals": { "s3:prefix": "a" } }))).toMatch(/Invalid Condition type/);
    expect(malformed(cond({ NullIfExists: { "s3:prefix": "true" } }))).toMatch(/Invalid Condition type/);
    expect(malformed(cond({ StringEquals: { "s3:colour": "a" } }))).toMatch(/invalid condition key/);
    expect(malformed(cond({ IpAddress: { "aws:SourceIp": "10.0.0.0/33" } }))).toMatch(/Invalid value/);
    expect(malformed(cond({ NumericLessThan: { "s3:max-keys": "ten" } }))).toMatch(/Invalid value/);
    expect(malformed(cond({ DateLessThan: { "aws:CurrentTime": "yesterday" } }))).toMatch(/Invalid value/);
    expect(malformed(cond({ Bool: { "aws:SecureTransport": "yes" } }))).toMatch(/Invalid value/);
    expect(malformed(cond({ StringEquals: { "s3:prefix": [] } }))).toMatch(/needs a string/);
  });

  it("accepts a policy up to 20 KB and refuses a larger one", () => {
    const sids = (n: number) => Array.from({ length: n }, (_, i) => ({ ...allowAll, Sid: `s${i}` }));
    expect(() => parseBucketPolicy(JSON.stringify({ Statement: sids(50) }), BUCKET)).not.toThrow();
    expect(malformed(JSON.stringify({ Statement: sids(200) }))).toMatch(/must not exceed 20480 bytes/);
  });

  it("accepts a lone Statement object, the 2008 version, account ids and root ARNs", () => {
    const p = parseBucketPolicy(
      JSON.stringify({ Version: "2008-10-17", Statement: { Effect: "Allow", Principal: { AWS: [ALICE, `arn:aws:iam::${BOB}:root`] }, Action: "s3:Get*", Resource: "arn:aws:s3:::photos/*" } }),
      BUCKET,
    );
    expect(p.statements[0]!.principals).toEqual({ everyone: false, accounts: [ALICE, BOB] });
    expect(p.version).toBe("2008-10-17");
  });
});

describe("principals, actions and resources", () => {
  it("grants the accounts a statement names, and everyone for \"*\" and {\"AWS\": \"*\"}, anonymous callers included", () => {
    const named = policy({ Effect: "Allow", Principal: { AWS: `arn:aws:iam::${BOB}:root` }, Action: "s3:GetObject", Resource: "arn:aws:s3:::photos/*" });
    expect(evaluatePolicy(named, request())).toBe("Allow");
    expect(evaluatePolicy(named, request({ accountId: ALICE }))).toBe("NotApplicable");
    expect(evaluatePolicy(named, request({ accountId: null }))).toBe("NotApplicable");
    for (const principal of ["*", { AWS: "*" }]) {
      const open = policy({ Effect: "Allow", Principal: principal, Action: "s3:GetObject", Resource: "arn:aws:s3:::photos/*" });
      expect(evaluatePolicy(open, request({ accountId: null }))).toBe("Allow");
    }
  });

  it("applies NotPrincipal to everyone but the accounts it names", () => {
    const p = policy({ Effect: "Deny", NotPrincipal: { AWS: ALICE }, Action: "s3:*", Resource: "arn:aws:s3:::photos/*" });
    expect(evaluatePolicy(p, request({ accountId: ALICE }))).toBe("NotApplicable");
    expect(evaluatePolicy(p, request({ accountId: BOB }))).toBe("Deny");
    expect(evaluatePolicy(p, request({ accountId: null }))).toBe("Deny");
  });

  it("matches action wildcards case-insensitively, and NotAction everything else", () => {
    const get = policy({ Effect: "Allow", Principal: "*", Action: "s3:Get*", Resource: "*" });
    expect(evaluatePolicy(get, request({ action: "s3:GetObjectVersion" }))).toBe("Allow");
    expect(evaluatePolicy(get, request({ action: "s3:PutObject" }))).toBe("NotApplicable");
    const exact = policy({ Effect: "Allow", Principal: "*", Action: "S3:getobject", Resource: "*" });
    expect(evaluatePolicy(exact, request({ action: "s3:GetObject" }))).toBe("Allow");
    const q = policy({ Effect: "Allow", Principal: "*", Action: "s3:?etObject", Resource: "*" });
    expect(evaluatePolicy(q, request({ action: "s3:PutObject" }))).toBe("NotApplicable");
    expect(evaluatePolicy(q, request({ action: "s3:GetObject" }))).toBe("Allow");
    const not = policy({ Effect: "Allow", Principal: "*", NotAction: ["s3:Delete*", "s3:Put*"], Resource: "*" });
    expect(evaluatePolicy(not, request({ action: "s3:ListBucket", resource: resourceArn(BUCKET) }))).toBe("Allow");
    expect(evaluatePolicy(not, request({ action: "s3:DeleteObject" }))).toBe("NotApplicable");
  });

  it("matches resources with wildcards, case-sensitively, and NotResource everything else", () => {
    const p = policy({ Effect: "Allow", Principal: "*", Action: "s3:*", Resource: "arn:aws:s3:::photos/public/*" });
    expect(evaluatePolicy(p, request({ resource: resourceArn(BUCKET, "public/a/b.jpg") }))).toBe("Allow");
    expect(evaluatePolicy(p, request({ resource: resourceArn(BUCKET, "Public/a.jpg") }))).toBe("NotApplicable");
    expect(evaluatePolicy(p, request({ resource: resourceArn(BUCKET) }))).toBe("NotApplicable");
    const bucketOnly = policy({ Effect: "Allow", Principal: "*", Action: "s3:*", Resource: "arn:aws:s3:::photos" });
    expect(evaluatePolicy(bucketOnly, request({ resource: resourceArn(BUCKET, "x") }))).toBe("NotApplicable");
    expect(evaluatePolicy(bucketOnly, request({ resource: resourceArn(BUCKET) }))).toBe("Allow");
    const not = policy({ Effect: "Deny", Principal: "*", Action: "s3:GetObject", NotResource: "arn:aws:s3:::photos/public/*" });
    expect(evaluatePolicy(not, request({ resource: resourceArn(BUCKET, "private/x") }))).toBe("Deny");
    expect(evaluatePolicy(not, request({ resource: resourceArn(BUCKET, "public/x") }))).toBe("NotApplicable");
  });

  it("lets an explicit Deny win over any Allow, whatever the order", () => {
    const allow = { Effect: "Allow", Principal: "*", Action: "s3:*", Resource: "arn:aws:s3:::photos/*" };
    const deny = { Effect: "Deny", Principal: { AWS: BOB }, Action: "s3:GetObject", Resource: "arn:aws:s3:::photos/a/*" };
    expect(evaluatePolicy(policy(allow, deny), request())).toBe("Deny");
    expect(evaluatePolicy(policy(deny, allow), request())).toBe("Deny");
    expect(evaluatePolicy(policy(deny, allow), request({ accountId: ALICE }))).toBe("Allow");
  });

  it("substitutes policy variables in 2012-10-17 policies only, and a missing variable matches nothing", () => {
    const home = { Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: "arn:aws:s3:::photos/home/${aws:username}/*" };
    const p = policy(home);
    expect(evaluatePolicy(p, request({ resource: resourceArn(BUCKET, `home/${BOB}/x`), context: { "aws:username": BOB } }))).toBe("Allow");
    expect(evaluatePolicy(p, request({ resource: resourceArn(BUCKET, `home/${ALICE}/x`), context: { "aws:username": BOB } }))).toBe("NotApplicable");
    expect(evaluatePolicy(p, request({ resource: resourceArn(BUCKET, "home//x") }))).toBe("NotApplicable");
    const old = parseBucketPolicy(JSON.stringify({ Version: "2008-10-17", Statement: home }), BUCKET);
    expect(evaluatePolicy(old, request({ resource: resourceArn(BUCKET, `home/${BOB}/x`), context: { "aws:username": BOB } }))).toBe("NotApplicable");
    const fallback = policy({ ...home, Resource: "arn:aws:s3:::photos/home/${aws:username, 'guest'}/*" });
    expect(evaluatePolicy(fallback, request({ resource: resourceArn(BUCKET, "home/guest/x") }))).toBe("Allow");
  });
});

describe("condition operators", () => {
  const holds = (operator: string, policyValues: string[], requestValues: string[] | undefined) => conditionHolds(parseConditionOperator(operator)!, policyValues, requestValues);

  it("compares strings exactly, ignoring case, and with wildcards", () => {
    expect(holds("StringEquals", ["a", "b"], ["b"])).toBe(true);
    expect(holds("StringEquals", ["a"], ["A"])).toBe(false);
    expect(holds("StringNotEquals", ["a"], ["b"])).toBe(true);
    expect(holds("StringNotEquals", ["a", "b"], ["b"])).toBe(false);
    expect(holds("StringEqualsIgnoreCase", ["abc"], ["ABC"])).toBe(true);
    expect(holds("StringNotEqualsIgnoreCase", ["abc"], ["ABC"])).toBe(false);
    expect(holds("StringLike", ["home/*/docs"], ["home/bob/docs"])).toBe(true);
    expect(holds("StringLike", ["a?c"], ["abbc"])).toBe(false);
    expect(holds("StringNotLike", ["tmp/*"], ["tmp/x"])).toBe(false);
    expect(holds("StringNotLike", ["tmp/*"], ["keep/x"])).toBe(true);
  });

  it("compares numbers and dates as values, not text", () => {
    expect(holds("NumericEquals", ["10"], ["10.0"])).toBe(true);
    expect(holds("NumericNotEquals", ["10"], ["11"])).toBe(true);
    expect(holds("NumericLessThan", ["100"], ["99"])).toBe(true);
    expect(holds("NumericLessThan", ["100"], ["100"])).toBe(false);
    expect(holds("NumericLessThanEquals", ["100"], ["100"])).toBe(true);
    expect(holds("NumericGreaterThan", ["9"], ["10"])).toBe(true);
    expect(holds("NumericGreaterThanEquals", ["10"], ["9"])).toBe(false);
    expect(holds("NumericLessThan", ["100"], ["not a number"])).toBe(false);
    expect(holds("DateLessThan", ["2030-01-01T00:00:00Z"], ["2029-12-31T23:59:59Z"])).toBe(true);
    expect(holds("DateGreaterThan", ["2030-01-01T00:00:00Z"], ["2029-12-31T23:59:59Z"])).toBe(false);
    expect(holds("DateEquals", ["2030-01-01T00:00:00Z"], [String(Date.parse("2030-01-01T00:00:00Z") / 1000)])).toBe(true);
    expect(holds("DateNotEquals", ["2030-01-01T00:00:00Z"], ["2030-01-01T00:00:01Z"])).toBe(true);
    expect(holds("DateLessThanEquals", ["2030-01-01"], ["2030-01-01T00:00:00Z"])).toBe(true);
    expect(holds("DateGreaterThanEquals", ["2030-01-01T00:00:00Z"], ["2029-01-01T00:00:00Z"])).toBe(false);
  });

  it("compares booleans, binary values and ARNs", () => {
    expect(holds("Bool", ["false"], ["false"])).toBe(true);
    expect(holds("Bool", ["true"], ["false"])).toBe(false);
    expect(holds("BinaryEquals", ["QmluYXJ5"], ["QmluYXJ5"])).toBe(true);
    expect(holds("ArnLike", ["arn:aws:iam::*:root"], [`arn:aws:iam::${BOB}:root`])).toBe(true);
    expect(holds("ArnEquals", [`arn:aws:iam::${ALICE}:root`], [`arn:aws:iam::${BOB}:root`])).toBe(false);
    expect(holds("ArnNotEquals", [`arn:aws:iam::${ALICE}:root`], [`arn:aws:iam::${BOB}:root`])).toBe(true);
    expect(holds("ArnNotLike", ["arn:aws:iam::*:root"], [`arn:aws:iam::${BOB}:root`])).toBe(false);
    // A wildcard stays within its ARN segment: "*" for the account does not swallow the resource.
    expect(holds("ArnLike", ["arn:aws:iam::*"], [`arn:aws:iam::${BOB}:root`])).toBe(false);
  });

  it("matches IPv4 and IPv6 addresses against CIDR blocks", () => {
    expect(holds("IpAddress", ["203.0.113.0/24"], ["203.0.113.77"])).toBe(true);
    expect(holds("IpAddress", ["203.0.113.0/24"], ["203.0.114.1"])).toBe(false);
    expect(holds("IpAddress", ["10.0.0.0/8", "2001:db8::/32"], ["2001:db8:1::5"])).toBe(true);
    expect(holds("IpAddress", ["2001:db8::/32"], ["2001:db9::1"])).toBe(false);
    expect(holds("IpAddress", ["127.0.0.1"], ["127.0.0.1"])).toBe(true);
    expect(holds("IpAddress", ["10.0.0.0/8"], ["::ffff:10.1.2.3"])).toBe(true);
    expect(holds("NotIpAddress", ["10.0.0.0/8"], ["192.168.0.1"])).toBe(true);
    expect(holds("NotIpAddress", ["10.0.0.0/8"], ["10.9.9.9"])).toBe(false);
    expect(holds("IpAddress", ["0.0.0.0/0"], ["::1"])).toBe(false);
    expect(cidrContains(parseCidr("::/0")!, parseIpAddress("2001:db8::1")!)).toBe(true);
    expect(parseIpAddress("1.2.3")).toBeUndefined();
    expect(parseIpAddress("1::2::3")).toBeUndefined();
  });

  it("fails a positive operator and passes a negated one when the key is missing, unless IfExists", () => {
    expect(holds("StringEquals", ["a"], undefined)).toBe(false);
    expect(holds("StringNotEquals", ["a"], undefined)).toBe(true);
    expect(holds("StringEqualsIfExists", ["a"], undefined)).toBe(true);
    expect(holds("StringEqualsIfExists", ["a"], ["b"])).toBe(false);
    expect(holds("NumericLessThanIfExists", ["10"], ["5"])).toBe(true);
    expect(holds("IpAddressIfExists", ["10.0.0.0/8"], undefined)).toBe(true);
  });

  it("tests presence with Null", () => {
    expect(holds("Null", ["true"], undefined)).toBe(true);
    expect(holds("Null", ["true"], ["x"])).toBe(false);
    expect(holds("Null", ["false"], ["x"])).toBe(true);
    expect(holds("Null", ["false"], undefined)).toBe(false);
  });

  it("quantifies multivalued keys: ForAnyValue needs one value to match, ForAllValues every one (and holds for none)", () => {
    expect(holds("ForAnyValue:StringEquals", ["team", "project"], ["owner", "project"])).toBe(true);
    expect(holds("ForAnyValue:StringEquals", ["team"], ["owner"])).toBe(false);
    expect(holds("ForAnyValue:StringEquals", ["team"], undefined)).toBe(false);
    expect(holds("ForAllValues:StringEquals", ["team", "project"], ["team", "project"])).toBe(true);
    expect(holds("ForAllValues:StringEquals", ["team", "project"], ["team", "owner"])).toBe(false);
    expect(holds("ForAllValues:StringEquals", ["team"], undefined)).toBe(true);
    expect(holds("ForAllValues:StringLike", ["t*"], ["team", "tier"])).toBe(true);
    expect(holds("ForAnyValue:StringNotEquals", ["team"], ["team", "owner"])).toBe(true);
    expect(holds("ForAllValues:StringNotEquals", ["secret"], ["team", "owner"])).toBe(true);
  });

  it("ANDs operators and keys within a statement's Condition, ORs the values of one key", () => {
    const p = policy({
      Effect: "Allow",
      Principal: "*",
      Action: "s3:ListBucket",
      Resource: "arn:aws:s3:::photos",
      Condition: { StringLike: { "s3:prefix": ["public/*", "shared/*"] }, NumericLessThanEquals: { "s3:max-keys": "100" } },
    });
    const list = (context: Record<string, string>) => evaluatePolicy(p, request({ action: "s3:ListBucket", resource: resourceArn(BUCKET), context }));
    expect(list({ "s3:prefix": "shared/x", "s3:max-keys": "50" })).toBe("Allow");
    expect(list({ "s3:prefix": "private/x", "s3:max-keys": "50" })).toBe("NotApplicable");
    expect(list({ "s3:prefix": "public/x", "s3:max-keys": "500" })).toBe("NotApplicable");
    expect(list({ "s3:prefix": "public/x" })).toBe("NotApplicable");
  });

  it("reads condition keys case-insensitively, but the tag key after s3:ExistingObjectTag/ exactly", () => {
    const p = policy({ Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: "arn:aws:s3:::photos/*", Condition: { StringEquals: { "S3:EXISTINGOBJECTTAG/Team": "blue" } } });
    expect(evaluatePolicy(p, request({ context: { "s3:existingobjecttag/Team": "blue" } }))).toBe("Allow");
    expect(evaluatePolicy(p, request({ context: { "s3:existingobjecttag/team": "blue" } }))).toBe("NotApplicable");
  });

  it("never backtracks exponentially on wildcards", () => {
    const started = performance.now();
    expect(wildcardMatch("*a*a*a*a*a*a*a*a*a*a*b", "a".repeat(5000))).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(wildcardMatch("a*b?d", "a-*-bcd")).toBe(true);
    expect(wildcardMatch("literal*", "literal")).toBe(true);
  });
});

describe("policy status", () => {
  it("calls a policy public when it allows everyone without pinning the caller to fixed values", () => {
    expect(isPublicPolicy(policy({ Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: "arn:aws:s3:::photos/*" }))).toBe(true);
    expect(isPublicPolicy(policy({ Effect: "Allow", Principal: { AWS: ALICE }, Action: "s3:*", Resource: "arn:aws:s3:::photos/*" }))).toBe(false);
    expect(isPublicPolicy(policy({ Effect: "Deny", Principal: "*", Action: "s3:*", Resource: "arn:aws:s3:::photos/*" }))).toBe(false);
    expect(isPublicPolicy(policy({ Effect: "Allow", NotPrincipal: { AWS: ALICE }, Action: "s3:GetObject", Resource: "arn:aws:s3:::photos/*" }))).toBe(true);
    const pinned = (condition: object) => isPublicPolicy(policy({ Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: "arn:aws:s3:::photos/*", Condition: condition }));
    expect(pinned({ IpAddress: { "aws:SourceIp": "203.0.113.0/24" } })).toBe(false);
    expect(pinned({ IpAddress: { "aws:SourceIp": "0.0.0.0/0" } })).toBe(true);
    expect(pinned({ StringEquals: { "aws:PrincipalAccount": ALICE } })).toBe(false);
    expect(pinned({ StringLike: { "aws:PrincipalAccount": "acc_*" } })).toBe(true);
    expect(pinned({ StringEquals: { "s3:prefix": "public/" } })).toBe(true);
    expect(pinned({ StringEqualsIfExists: { "aws:SourceAccount": ALICE } })).toBe(true);
  });
});

// Browser form uploads (presigned POST): a multipart/form-data body whose fields carry a policy document
// signed with SigV4 (or V2), and whose last part is the file. The file streams straight to storage: its length is
// known before its first byte (Content-Length minus what came before it and the closing delimiter).
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html

import { fromBase64, hex, hmacSha256, timingSafeEqualHex } from "../protocol/crypto.ts";
import { deriveSigningKey, parseAmzDate } from "../protocol/sigv4.ts";
import { S3Error } from "./errors.ts";
import { kmsNeedsSigV4, signatureMismatch, sigV2Matches } from "./sigv2.ts";

type SecretLookup = (accessKeyId: string) => Promise<string | undefined>;

const MAX_FIELD_BYTES = 64 * 1024;
const MAX_FIELDS_BYTES = 1024 * 1024;

export interface FormUpload {
  /** Lowercase field name -> value, for every field before the file. */
  fields: Map<string, string>;
  filename: string;
  fileContentType?: string;
  fileLength: number;
  /** The file's bytes; the closing delimiter is verified after the last one. */
  file: AsyncGenerator<Uint8Array>;
}

class Reader {
  private buffer: Uint8Array = new Uint8Array(0);
  private readonly source: AsyncIterator<Uint8Array>;
  consumed = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.source = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    const next = await this.source.next();
    if (next.done) return false;
    const joined = new Uint8Array(this.buffer.length + next.value.length);
    joined.set(this.buffer);
    joined.set(next.value, this.buffer.length);
    this.buffer = joined;
    return true;
  }

  /** Bytes up to (not including) `delimiter`, which is consumed too; at most `limit` bytes. */
  async readUntil(delimiter: Uint8Array, limit: number): Promise<Uint8Array> {
    let from = 0;
    while (true) {
      const at = indexOf(this.buffer, delimiter, from);
      if (at >= 0) {
        const out = this.buffer.slice(0, at);
        this.take(at + delimiter.length);
        return out;
      }
      if (this.buffer.length > limit + delimiter.length) throw new S3Error("MalformedPOSTRequest", "A form field is too large.");
      from = Math.max(0, this.buffer.length - delimiter.length + 1);
      if (!(await this.fill())) throw new S3Error("MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data.");
    }
  }

  async *readExactly(n: number): AsyncGenerator<Uint8Array> {
    let remaining = n;
    while (remaining > 0) {
      if (this.buffer.length === 0 && !(await this.fill())) throw new S3Error("IncompleteBody", "The POST body ended before the file did.");
      const piece = this.buffer.subarray(0, Math.min(remaining, this.buffer.length));
      remaining -= piece.length;
      const copy = piece.slice();
      this.take(piece.length);
      yield copy;
    }
  }

  async rest(): Promise<Uint8Array> {
    while (await this.fill()) {
      if (this.buffer.length > 1024) break;
    }
    return this.buffer;
  }

  private take(n: number): void {
    this.buffer = this.buffer.subarray(n);
    this.consumed += n;
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Reads the form's fields up to the file part, and prepares the file's stream. */
export async function readFormUpload(contentType: string, contentLength: number, body: AsyncIterable<Uint8Array>): Promise<FormUpload> {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const b = boundary?.[1] ?? boundary?.[2];
  if (!b) throw new S3Error("MalformedPOSTRequest", "The multipart/form-data boundary is missing.");
  const reader = new Reader(body);
  const dashBoundary = encoder.encode(`--${b}`);
  const delimiter = encoder.encode(`\r\n--${b}`);
  const closing = encoder.encode(`\r\n--${b}--\r\n`);

  await reader.readUntil(dashBoundary, 1024); // preamble
  const fields = new Map<string, string>();
  let total = 0;
  while (true) {
    const afterBoundary = decoder.decode(await reader.readUntil(encoder.encode("\r\n"), 16));
    if (afterBoundary === "--") throw new S3Error("InvalidArgument", "POST requires exactly one file upload per request.", { ArgumentName: "file" });
    const headerBlock = decoder.decode(await reader.readUntil(encoder.encode("\r\n\r\n"), 8 * 1024));
    const disposition = /content-disposition:\s*form-data;([^\r\n]*)/i.exec(headerBlock)?.[1] ?? "";
    const name = /\bname="([^"]*)"/i.exec(disposition)?.[1];
    const filename = /\bfilename="([^"]*)"/i.exec(disposition)?.[1];
    if (name === undefined) throw new S3Error("MalformedPOSTRequest", "A form part has no name.");
    if (name.toLowerCase() === "file") {
      // The file is the last part: everything up to the closing delimiter is its content.
      const fileLength = contentLength - reader.consumed - closing.length;
      if (fileLength < 0) throw new S3Error("MalformedPOSTRequest", "The POST body is shorter than its parts.");
      const fileContentType = /content-type:\s*([^\r\n]+)/i.exec(headerBlock)?.[1]?.trim();
      const file = (async function* () {
        yield* reader.readExactly(fileLength);
        const tail = await reader.rest();
        if (tail.length !== closing.length || indexOf(tail, closing, 0) !== 0) {
          throw new S3Error("MalformedPOSTRequest", "The file must be the last field of the form, followed by the closing boundary.");
        }
      })();
      return { fields, filename: filename ?? "", fileContentType, fileLength, file };
    }
    const value = decoder.decode(await reader.readUntil(delimiter, MAX_FIELD_BYTES));
    total += value.length;
    if (total > MAX_FIELDS_BYTES) throw new S3Error("MalformedPOSTRequest", "The form fields are too large.");
    fields.set(name.toLowerCase(), value);
  }
}

interface PolicyDocument {
  expiration: string;
  conditions: unknown[];
}

/**
 * Verifies the policy's signature (SigV4, or V2 for forms that carry AWSAccessKeyId and signature) and every
 * condition against the form, as S3 does: each field must be allowed by a condition (except the signature's own
 * fields, the policy itself, file and x-ignore-* fields), and the file length must fall in content-length-range.
 * Returns the access key id that signed it.
 */
export async function verifyPostPolicy(
  form: FormUpload,
  bucket: string,
  now: Date,
  regions: readonly string[],
  lookupSecret: SecretLookup,
): Promise<{ accessKeyId: string; v2: boolean }> {
  const f = form.fields;
  const v2 = !f.has("x-amz-algorithm") && (f.has("awsaccesskeyid") || f.has("signature"));
  const { accessKeyId, policyB64 } = v2 ? await verifyPolicySignatureV2(f, lookupSecret) : await verifyPolicySignatureV4(f, regions, lookupSecret);

  let policy: PolicyDocument;
  try {
    policy = JSON.parse(new TextDecoder().decode(fromBase64(policyB64))) as PolicyDocument;
  } catch {
    throw new S3Error("InvalidPolicyDocument", "Invalid Policy: Invalid JSON.");
  }
  const expires = Date.parse(policy.expiration ?? "");
  if (Number.isNaN(expires) || !Array.isArray(policy.conditions)) throw new S3Error("InvalidPolicyDocument", "Invalid Policy: expiration and conditions are required.");
  if (now.getTime() > expires) throw new S3Error("AccessDenied", "Invalid according to Policy: Policy expired.");

  const values = new Map(f);
  values.set("bucket", bucket);
  const covered = new Set(v2 ? ["awsaccesskeyid", "signature", "policy", "file"] : ["x-amz-signature", "policy", "file"]);
  const fail = (why: string) => new S3Error("AccessDenied", `Invalid according to Policy: Policy Condition failed: ${why}`);
  for (const condition of policy.conditions) {
    if (Array.isArray(condition)) {
      const [op, a, b] = condition as [string, unknown, unknown];
      if (String(op).toLowerCase() === "content-length-range") {
        if (form.fileLength < Number(a) || form.fileLength > Number(b)) {
          throw new S3Error(form.fileLength < Number(a) ? "EntityTooSmall" : "EntityTooLarge", "Your proposed upload is outside the policy's content-length-range.");
        }
        continue;
      }
      const field = String(a).replace(/^\$/, "").toLowerCase();
      const actual = values.get(field) ?? "";
      covered.add(field);
      if (String(op).toLowerCase() === "eq" && actual !== String(b)) throw fail(JSON.stringify(condition));
      else if (String(op).toLowerCase() === "starts-with") {
        // Content-Type may list several values, each of which must match (S3's rule for starts-with on it).
        const candidates = field === "content-type" ? actual.split(",").map((s) => s.trim()) : [actual];
        if (!candidates.every((c) => c.startsWith(String(b)))) throw fail(JSON.stringify(condition));
      } else if (!["eq", "starts-with"].includes(String(op).toLowerCase())) throw new S3Error("InvalidPolicyDocument", `Invalid Policy: unknown condition ${op}.`);
    } else if (condition && typeof condition === "object") {
      for (const [name, expected] of Object.entries(condition)) {
        const field = name.toLowerCase();
        covered.add(field);
        if ((values.get(field) ?? "") !== String(expected)) throw fail(JSON.stringify(condition));
      }
    } else {
      throw new S3Error("InvalidPolicyDocument", "Invalid Policy: a condition must be an object or an array.");
    }
  }
  const extra = [...f.keys()].filter((name) => !covered.has(name) && !name.startsWith("x-ignore-"));
  if (extra.length) throw new S3Error("AccessDenied", `Invalid according to Policy: Extra input fields: ${extra.join(", ")}`);
  checkSuccessRedirect(f);
  return { accessKeyId, v2 };
}

interface SignedPolicy {
  accessKeyId: string;
  policyB64: string;
}

// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html
async function verifyPolicySignatureV4(f: Map<string, string>, regions: readonly string[], lookupSecret: SecretLookup): Promise<SignedPolicy> {
  const policyB64 = f.get("policy");
  const signature = f.get("x-amz-signature");
  const credential = f.get("x-amz-credential");
  if (!policyB64 || !signature || !credential || f.get("x-amz-algorithm") !== "AWS4-HMAC-SHA256" || !f.get("x-amz-date")) {
    throw new S3Error("AccessDenied", "Form uploads need policy, x-amz-algorithm=AWS4-HMAC-SHA256, x-amz-credential, x-amz-date and x-amz-signature fields.");
  }
  const parts = credential.split("/");
  if (parts.length < 5 || parts[parts.length - 1] !== "aws4_request" || parts[parts.length - 2] !== "s3" || !regions.includes(parts[parts.length - 3]!)) {
    throw new S3Error("AuthorizationQueryParametersError", `The credential '${credential}' is malformed or for another region or service.`);
  }
  const accessKeyId = parts.slice(0, parts.length - 4).join("/");
  const secret = await lookupSecret(accessKeyId);
  if (secret === undefined) throw new S3Error("InvalidAccessKeyId", undefined, { AWSAccessKeyId: accessKeyId });
  const key = await deriveSigningKey(secret, { accessKeyId, date: parts[parts.length - 4]!, region: parts[parts.length - 3]!, service: "s3" });
  if (!timingSafeEqualHex(hex(await hmacSha256(key, policyB64)), signature.toLowerCase())) {
    throw new S3Error("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.", { StringToSign: policyB64 });
  }
  if (!parseAmzDate(f.get("x-amz-date")!)) throw new S3Error("AccessDenied", "x-amz-date must be yyyyMMdd'T'HHmmss'Z'.");
  return { accessKeyId, policyB64 };
}

/**
 * A V2 form: `signature` is the base64 HMAC-SHA1 of the base64 policy under the secret of AWSAccessKeyId
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/HTTPPOSTForms.html). As S3 does for every V2 request, one
 * asking for SSE-KMS is refused.
 */
async function verifyPolicySignatureV2(f: Map<string, string>, lookupSecret: SecretLookup): Promise<SignedPolicy> {
  const policyB64 = f.get("policy");
  const signature = f.get("signature");
  const accessKeyId = f.get("awsaccesskeyid");
  if (!policyB64 || !signature || !accessKeyId) throw new S3Error("AccessDenied", "Form uploads signed with Signature Version 2 need AWSAccessKeyId, policy and signature fields.");
  const secret = await lookupSecret(accessKeyId);
  if (secret === undefined) throw new S3Error("InvalidAccessKeyId", undefined, { AWSAccessKeyId: accessKeyId });
  if (!(await sigV2Matches(secret, policyB64, signature))) throw signatureMismatch(accessKeyId, policyB64, signature);
  if (f.get("x-amz-server-side-encryption") === "aws:kms" || f.has("x-amz-server-side-encryption-aws-kms-key-id")) throw kmsNeedsSigV4();
  return { accessKeyId, policyB64 };
}

/**
 * success_action_redirect (or the older redirect) must be an absolute http(s) URL: a successful upload is
 * answered with a 303 to it, and an upload that cannot be answered must not be stored. S3 documents falling
 * back to success_action_status for a URL it cannot interpret; refusing up front, before any byte is stored,
 * tells the form's author instead.
 */
function checkSuccessRedirect(fields: Map<string, string>): void {
  for (const name of ["success_action_redirect", "redirect"]) {
    const value = fields.get(name);
    if (!value) continue;
    const url = URL.canParse(value) ? new URL(value) : undefined;
    if (url?.protocol !== "http:" && url?.protocol !== "https:") {
      throw new S3Error("InvalidArgument", `The ${name} field must be an absolute http or https URL.`, { ArgumentName: name });
    }
  }
}

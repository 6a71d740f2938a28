// AWS Signature Version 4 verification, shared by the edge (S3 clients, node heartbeats) and the
// node-agent (requests from the edge). Runtime-free: Web Crypto only.
// Spec: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
// S3 specifics: https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html

import { EdgeError } from "./errors.ts";
import { hex, hmacSha256, sha256Hex, timingSafeEqualHex } from "./crypto.ts";

export const ALGORITHM = "AWS4-HMAC-SHA256";
export const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";
/** Largest clock difference S3 tolerates before RequestTimeTooSkewed. */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;
/** X-Amz-Expires upper bound for presigned URLs (7 days). */
export const MAX_PRESIGN_EXPIRES_S = 7 * 24 * 3600;

/** Why a signature check failed; names match S3 error codes so the S3 layer maps them 1:1. */
export type SigV4FailureCode =
  | "AccessDenied"
  | "AuthorizationHeaderMalformed"
  | "AuthorizationQueryParametersError"
  | "InvalidAccessKeyId"
  | "RequestTimeTooSkewed"
  | "SignatureDoesNotMatch"
  | "MissingSecurityHeader";

/** `details`, for SignatureDoesNotMatch: what we computed, so clients can debug (S3 returns these too). */
export class SigV4Error extends EdgeError<SigV4FailureCode, Record<string, string>> {
  constructor(code: SigV4FailureCode, message: string, details: Record<string, string> = {}) {
    super(code, message, details);
    this.name = "SigV4Error";
  }
}

/** The parts of an incoming request that SigV4 signs. `rawPath` and `rawQuery` are as sent (still percent-encoded). */
export interface SignedRequestParts {
  method: string;
  rawPath: string;
  rawQuery: string;
  headers: Headers;
}

export interface Credential {
  accessKeyId: string;
  date: string; // YYYYMMDD
  region: string;
  service: string;
}

export interface VerifiedSignature {
  accessKeyId: string;
  region: string;
  service: string;
  /** The x-amz-content-sha256 the client committed to (hex digest, UNSIGNED-PAYLOAD or a STREAMING-* mode). */
  payloadHash: string;
  /** Request time from X-Amz-Date. */
  amzDate: string;
  /** Signature of the request: the seed for aws-chunked chunk signatures. */
  signature: string;
  signingKey: CryptoKey;
  scope: string;
  presigned: boolean;
  /** Lowercase names of the headers the signature covers (SignedHeaders / X-Amz-SignedHeaders). */
  signedHeaders: readonly string[];
}

/** Looks up the secret for an access key id; undefined when the key is unknown or disabled. */
export type SecretLookup = (accessKeyId: string) => Promise<string | undefined>;

export interface VerifyOptions {
  now: Date;
  /** Regions this verifier answers for; a request scoped to another region fails. */
  regions: readonly string[];
  service: string;
  /**
   * The payload hash to sign against, for services whose clients do not send x-amz-content-sha256
   * (the caller hashes the small body itself). S3 leaves it unset and the header decides.
   */
  payloadHash?: string;
}

interface ParsedAuth {
  credential: Credential;
  signedHeaders: string[];
  signature: string;
  amzDate: string;
  payloadHash: string;
  presigned: boolean;
  expiresS?: number;
}

/** Does this request carry SigV4 auth at all (header or query)? */
export function hasSigV4(parts: SignedRequestParts): boolean {
  if (parts.headers.get("authorization") !== null) return true;
  return new URLSearchParams(parts.rawQuery).has("X-Amz-Algorithm");
}

export async function verifySigV4(
  parts: SignedRequestParts,
  lookupSecret: SecretLookup,
  options: VerifyOptions,
): Promise<VerifiedSignature> {
  const auth = parseAuth(parts);
  if (options.payloadHash !== undefined) auth.payloadHash = options.payloadHash;
  checkScope(auth, options);
  checkTime(auth, options.now);

  const secret = await lookupSecret(auth.credential.accessKeyId);
  if (secret === undefined) {
    throw new SigV4Error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", {
      AWSAccessKeyId: auth.credential.accessKeyId,
    });
  }

  const canonical = canonicalRequest(parts, auth);
  const scope = credentialScope(auth.credential);
  const toSign = [ALGORITHM, auth.amzDate, scope, await sha256Hex(canonical)].join("\n");
  const signingKey = await deriveSigningKey(secret, auth.credential);
  const expected = hex(await hmacSha256(signingKey, toSign));
  if (!timingSafeEqualHex(expected, auth.signature)) {
    throw new SigV4Error(
      "SignatureDoesNotMatch",
      "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
      {
        AWSAccessKeyId: auth.credential.accessKeyId,
        StringToSign: toSign,
        SignatureProvided: auth.signature,
        CanonicalRequest: canonical,
      },
    );
  }
  return {
    accessKeyId: auth.credential.accessKeyId,
    region: auth.credential.region,
    service: auth.credential.service,
    payloadHash: auth.payloadHash,
    amzDate: auth.amzDate,
    signature: auth.signature,
    signingKey,
    scope,
    presigned: auth.presigned,
    signedHeaders: auth.signedHeaders.map((name) => name.toLowerCase()),
  };
}

export function credentialScope(c: Credential): string {
  return `${c.date}/${c.region}/${c.service}/aws4_request`;
}

export async function deriveSigningKey(secret: string, c: Credential): Promise<CryptoKey> {
  const kDate = await hmacSha256(`AWS4${secret}`, c.date);
  const kRegion = await hmacSha256(kDate, c.region);
  const kService = await hmacSha256(kRegion, c.service);
  const kSigning = await hmacSha256(kService, "aws4_request");
  return crypto.subtle.importKey("raw", kSigning, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
}

function parseAuth(parts: SignedRequestParts): ParsedAuth {
  const header = parts.headers.get("authorization");
  const query = new URLSearchParams(parts.rawQuery);
  if (header !== null) {
    if (query.has("X-Amz-Algorithm")) {
      throw new SigV4Error("AccessDenied", "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified");
    }
    return parseAuthorizationHeader(header, parts.headers);
  }
  return parsePresignedQuery(query);
}

// Authorization: AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=...
function parseAuthorizationHeader(header: string, headers: Headers): ParsedAuth {
  const space = header.indexOf(" ");
  const algorithm = space < 0 ? header : header.slice(0, space);
  if (algorithm !== ALGORITHM) {
    throw new SigV4Error("AuthorizationHeaderMalformed", `The authorization header is malformed; unsupported algorithm '${algorithm}'. Use ${ALGORITHM}.`);
  }
  const fields = new Map<string, string>();
  for (const piece of header.slice(space + 1).split(",")) {
    const eq = piece.indexOf("=");
    if (eq < 0) continue;
    fields.set(piece.slice(0, eq).trim(), piece.slice(eq + 1).trim());
  }
  const credential = fields.get("Credential");
  const signedHeaders = fields.get("SignedHeaders");
  const signature = fields.get("Signature");
  if (!credential || !signedHeaders || !signature) {
    throw new SigV4Error("AuthorizationHeaderMalformed", "The authorization header is malformed; it must contain Credential, SignedHeaders and Signature.");
  }
  const amzDate = headers.get("x-amz-date") ?? isoFromHttpDate(headers.get("date"));
  if (!amzDate) {
    throw new SigV4Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header");
  }
  const payloadHash = headers.get("x-amz-content-sha256");
  return {
    credential: parseCredential(credential, "AuthorizationHeaderMalformed"),
    signedHeaders: signedHeaders.split(";"),
    signature: signature.toLowerCase(),
    amzDate,
    // Non-S3 services may omit the header; the caller then checks the body against it itself.
    payloadHash: payloadHash ?? "",
    presigned: false,
  };
}

function parsePresignedQuery(query: URLSearchParams): ParsedAuth {
  const algorithm = query.get("X-Amz-Algorithm");
  const credential = query.get("X-Amz-Credential");
  const signedHeaders = query.get("X-Amz-SignedHeaders");
  const signature = query.get("X-Amz-Signature");
  const amzDate = query.get("X-Amz-Date");
  const expires = query.get("X-Amz-Expires");
  if (algorithm !== ALGORITHM) {
    throw new SigV4Error("AuthorizationQueryParametersError", `X-Amz-Algorithm only supports "${ALGORITHM}"`);
  }
  if (!credential || !signedHeaders || !signature || !amzDate || !expires) {
    throw new SigV4Error(
      "AuthorizationQueryParametersError",
      "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
    );
  }
  const expiresS = Number(expires);
  if (!/^\d+$/.test(expires) || expiresS > MAX_PRESIGN_EXPIRES_S) {
    throw new SigV4Error("AuthorizationQueryParametersError", "X-Amz-Expires must be a non-negative integer no greater than 604800 seconds");
  }
  return {
    credential: parseCredential(credential, "AuthorizationQueryParametersError"),
    signedHeaders: signedHeaders.split(";"),
    signature: signature.toLowerCase(),
    amzDate,
    payloadHash: query.get("X-Amz-Content-Sha256") ?? UNSIGNED_PAYLOAD,
    presigned: true,
    expiresS,
  };
}

function parseCredential(value: string, code: SigV4FailureCode): Credential {
  // The access key id itself never contains '/', the scope is always the last four parts.
  const parts = value.split("/");
  if (parts.length < 5 || parts[parts.length - 1] !== "aws4_request") {
    throw new SigV4Error(code, `The credential '${value}' is malformed; expected "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`);
  }
  const [service, region, date] = [parts[parts.length - 2]!, parts[parts.length - 3]!, parts[parts.length - 4]!];
  const accessKeyId = parts.slice(0, parts.length - 4).join("/");
  if (!/^\d{8}$/.test(date)) {
    throw new SigV4Error(code, `The credential date '${date}' is malformed; expected YYYYMMDD.`);
  }
  return { accessKeyId, date, region, service };
}

function checkScope(auth: ParsedAuth, options: VerifyOptions): void {
  const { credential } = auth;
  if (!options.regions.includes(credential.region)) {
    throw new SigV4Error(
      auth.presigned ? "AuthorizationQueryParametersError" : "AuthorizationHeaderMalformed",
      `The authorization header is malformed; the region '${credential.region}' is wrong; expecting '${options.regions[0]}'`,
      { Region: options.regions[0] ?? "" },
    );
  }
  if (credential.service !== options.service) {
    throw new SigV4Error(
      auth.presigned ? "AuthorizationQueryParametersError" : "AuthorizationHeaderMalformed",
      `The authorization header is malformed; incorrect service '${credential.service}'. This endpoint belongs to '${options.service}'.`,
    );
  }
  if (!auth.amzDate.startsWith(credential.date)) {
    throw new SigV4Error(
      auth.presigned ? "AuthorizationQueryParametersError" : "AuthorizationHeaderMalformed",
      `The authorization header is malformed; Invalid credential date. Date is not the same as X-Amz-Date: ${credential.date}.`,
    );
  }
  if (!auth.signedHeaders.includes("host")) {
    throw new SigV4Error("AccessDenied", "The host header must be signed.");
  }
}

function checkTime(auth: ParsedAuth, now: Date): void {
  const signedAt = parseAmzDate(auth.amzDate);
  if (signedAt === undefined) {
    throw new SigV4Error(auth.presigned ? "AuthorizationQueryParametersError" : "AccessDenied", `X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`);
  }
  if (auth.presigned) {
    // A presigned URL is valid from its signing time (with skew allowance) until X-Amz-Expires has passed.
    if (signedAt.getTime() - now.getTime() > MAX_CLOCK_SKEW_MS) {
      throw new SigV4Error("AccessDenied", "Request is not valid yet");
    }
    if (now.getTime() > signedAt.getTime() + (auth.expiresS ?? 0) * 1000) {
      throw new SigV4Error("AccessDenied", "Request has expired", {
        Expires: new Date(signedAt.getTime() + (auth.expiresS ?? 0) * 1000).toISOString(),
        ServerTime: now.toISOString(),
      });
    }
    return;
  }
  if (Math.abs(now.getTime() - signedAt.getTime()) > MAX_CLOCK_SKEW_MS) {
    throw new SigV4Error("RequestTimeTooSkewed", "The difference between the request time and the current time is too large.", {
      RequestTime: auth.amzDate,
      ServerTime: now.toISOString(),
      MaxAllowedSkewMilliseconds: String(MAX_CLOCK_SKEW_MS),
    });
  }
}

export function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export function toAmzDate(d: Date): string {
  return d.toISOString().replace(/[:-]|\.\d{3}/g, "");
}

function isoFromHttpDate(value: string | null): string | undefined {
  if (!value) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : toAmzDate(new Date(t));
}

/** The canonical request of SigV4 task 1, with S3's single URI-encoding of the path. */
export function canonicalRequest(parts: SignedRequestParts, auth: Pick<ParsedAuth, "signedHeaders" | "payloadHash" | "presigned">): string {
  const headerLines = auth.signedHeaders.map((name) => {
    const value = parts.headers.get(name) ?? "";
    return `${name}:${value.trim().replace(/\s+/g, " ")}\n`;
  });
  return [
    parts.method.toUpperCase(),
    canonicalUri(parts.rawPath),
    canonicalQuery(parts.rawQuery, auth.presigned),
    headerLines.join(""),
    auth.signedHeaders.join(";"),
    auth.payloadHash,
  ].join("\n");
}

// S3 signs the path URI-encoded once: decode what the client sent, encode each byte except unreserved and '/'.
function canonicalUri(rawPath: string): string {
  return uriEncode(safeDecode(rawPath || "/"), false);
}

function canonicalQuery(rawQuery: string, presigned: boolean): string {
  const decoded = decodeQuery(rawQuery);
  if (decoded === undefined) throw new SigV4Error("AccessDenied", "The query string is not valid percent-encoded UTF-8.");
  const pairs: [string, string][] = [];
  for (const [name, value] of decoded) {
    if (presigned && name === "X-Amz-Signature") continue;
    pairs.push([uriEncode(name, true), uriEncode(value, true)]);
  }
  pairs.sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join("&");
}

/**
 * The query's name/value pairs decoded once, as application/x-www-form-urlencoded: '+' is a space, then
 * percent-decoding as UTF-8. This is how routing reads a query (URLSearchParams, hono), and SigV4 signs these
 * same values re-encoded, so "a+b" (a space) and "a%2Bb" (a plus) never share a signature while meaning two
 * different things. AWS reads a raw '+' in a query as a space too. Undefined when a name or value is not valid
 * percent-encoded UTF-8 (URLSearchParams would silently keep or replace those bytes).
 */
export function decodeQuery(rawQuery: string): [string, string][] | undefined {
  const pairs: [string, string][] = [];
  for (const piece of rawQuery.split("&")) {
    if (piece === "") continue;
    const eq = piece.indexOf("=");
    const name = strictDecode((eq < 0 ? piece : piece.slice(0, eq)).replace(/\+/g, " "));
    const value = eq < 0 ? "" : strictDecode(piece.slice(eq + 1).replace(/\+/g, " "));
    if (name === undefined || value === undefined) return undefined;
    pairs.push([name, value]);
  }
  return pairs;
}

function strictDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

function safeDecode(s: string): string {
  return strictDecode(s) ?? s;
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** URI-encode per SigV4: every byte except unreserved characters (and '/' unless encodeSlash). */
export function uriEncode(value: string, encodeSlash: boolean): string {
  let out = "";
  for (const ch of value) {
    if (UNRESERVED.test(ch) || (ch === "/" && !encodeSlash)) {
      out += ch;
    } else {
      for (const byte of new TextEncoder().encode(ch)) out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    }
  }
  return out;
}

/** Splits a URL into the raw (still encoded) path and query SigV4 works on. */
export function rawPathAndQuery(url: string): { rawPath: string; rawQuery: string } {
  const afterScheme = url.indexOf("://");
  const pathStart = url.indexOf("/", afterScheme < 0 ? 0 : afterScheme + 3);
  const rest = pathStart < 0 ? "/" : url.slice(pathStart);
  const q = rest.indexOf("?");
  const hash = rest.indexOf("#");
  const end = hash < 0 ? rest.length : hash;
  return q < 0 || q > end ? { rawPath: rest.slice(0, end), rawQuery: "" } : { rawPath: rest.slice(0, q), rawQuery: rest.slice(q + 1, end) };
}

/**
 * The request's headers as the client signed them. Some runtimes keep `host` only in the URL, and Cloudflare's
 * edge (and wrangler dev, which emulates it) rewrites Accept-Encoding to "br, gzip" before the Worker runs,
 * keeping the client's value in `request.cf.clientAcceptEncoding`; clients such as rclone sign that header.
 */
export function headersAsSigned(request: Request): Headers {
  // Reading `cf` costs a parse per request: only a signature that names accept-encoding needs it.
  const signsEncoding = /accept-encoding/i.test(request.headers.get("authorization") ?? request.url);
  const clientAcceptEncoding = signsEncoding ? (request as { cf?: { clientAcceptEncoding?: unknown } }).cf?.clientAcceptEncoding : undefined;
  const restoreEncoding = typeof clientAcceptEncoding === "string";
  if (request.headers.has("host") && !restoreEncoding) return request.headers;
  const headers = new Headers(request.headers);
  if (!headers.has("host")) headers.set("host", new URL(request.url).host);
  if (restoreEncoding) {
    if (clientAcceptEncoding === "") headers.delete("accept-encoding");
    else headers.set("accept-encoding", clientAcceptEncoding);
  }
  return headers;
}

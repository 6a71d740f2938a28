// Server-side encryption as S3 defines it, on top of the edge's envelope encryption: which key wraps a new
// object's data keys (request headers, else the bucket default, else SSE-S3), which key opens an existing
// object's, and the headers S3 answers with.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/serv-side-encryption.html

import { configOf } from "../config.ts";
import { base64, fromBase64, hex, hmacSha256 } from "../protocol/crypto.ts";
import { bucketIndexFor } from "../services/bucket-indexes.ts";
import { bucketKeyFor } from "../services/bucket-keys.ts";
import { importDataKey, parseMasterKeyRing, type MasterKeyRing } from "../services/crypto/keys.ts";
import { createKmsKey, KmsError, resolveKmsKey, type KmsKeyLookupFailure, type UsableKmsKey } from "../services/kms.ts";
import type { ObjectEncryption } from "../services/object-model.ts";
import type { KeyEncryptionKey } from "../services/segment-cipher.ts";
import type { BucketRow } from "../db/schema.ts";
import { TtlCache } from "../services/ttl-cache.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import { refuseKmsUnderSigV2 } from "./sigv2.ts";

/** The bucket-config document of PutBucketEncryption (absent: SSE-S3, S3's default since January 2023). */
export const ENCRYPTION_CONFIG = "encryption";
export interface BucketEncryptionDefault {
  algorithm: "AES256" | "aws:kms";
  kmsKeyId?: string;
  bucketKeyEnabled: boolean;
}
export const SSE_S3_DEFAULT: BucketEncryptionDefault = { algorithm: "AES256", bucketKeyEnabled: false };

/** The headers that carry a customer key: for the object itself, or for the source of a copy. */
export type CustomerKeyHeaders = "x-amz-server-side-encryption-customer-" | "x-amz-copy-source-server-side-encryption-customer-";
export const OBJECT_CUSTOMER_KEY: CustomerKeyHeaders = "x-amz-server-side-encryption-customer-";
export const COPY_SOURCE_CUSTOMER_KEY: CustomerKeyHeaders = "x-amz-copy-source-server-side-encryption-customer-";

/** An SSE-C key as the client sent it: 32 bytes, checked against the MD5 the client computed. */
export interface CustomerKey {
  raw: Uint8Array<ArrayBuffer>;
  /** base64 MD5 of the key, which S3 echoes (x-amz-server-side-encryption-customer-key-MD5). */
  md5: string;
}

export interface WriteEncryption {
  encryption: ObjectEncryption;
  kek: KeyEncryptionKey;
}

function ring(ctx: S3Context): Promise<MasterKeyRing> {
  return parseMasterKeyRing(ctx.env.MASTER_KEYS);
}

/**
 * Reads and validates SSE-C headers (S3's checks and codes: https://docs.aws.amazon.com/AmazonS3/latest/userguide/ServerSideEncryptionCustomerKeys.html).
 * Undefined when none of the three is present.
 */
export async function customerKeyFrom(ctx: S3Context, names: CustomerKeyHeaders): Promise<CustomerKey | undefined> {
  const headers = ctx.request.headers;
  const algorithm = headers.get(`${names}algorithm`);
  const key = headers.get(`${names}key`);
  const keyMd5 = headers.get(`${names}key-md5`);
  if (algorithm === null && key === null && keyMd5 === null) return undefined;
  assertSecureTransport(ctx);
  if (algorithm === null) {
    throw new S3Error("InvalidArgument", "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.", {
      ArgumentName: `${names}algorithm`,
    });
  }
  if (algorithm !== "AES256") throw new S3Error("InvalidEncryptionAlgorithmError", undefined, { ArgumentName: `${names}algorithm`, ArgumentValue: algorithm });
  if (key === null) {
    throw new S3Error("InvalidArgument", "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.", {
      ArgumentName: `${names}key`,
    });
  }
  let raw: Uint8Array<ArrayBuffer>;
  try {
    raw = fromBase64(key);
  } catch {
    raw = new Uint8Array(0);
  }
  if (raw.length !== 32) throw new S3Error("InvalidArgument", "The secret key was invalid for the specified algorithm.", { ArgumentName: `${names}key` });
  if (keyMd5 === null) {
    throw new S3Error("InvalidArgument", "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.", {
      ArgumentName: `${names}key-MD5`,
    });
  }
  const md5 = base64(new Uint8Array(await crypto.subtle.digest("MD5", raw)));
  if (md5 !== keyMd5.trim()) {
    throw new S3Error("InvalidArgument", "The calculated MD5 hash of the key did not match the hash that was provided.", { ArgumentName: `${names}key-MD5` });
  }
  return { raw, md5 };
}

/**
 * S3 refuses customer keys over plain HTTP. So does the edge, except on loopback (the local network) or when
 * SSE_C_ALLOW_HTTP is "true" (a deployment behind its own TLS terminator).
 */
function assertSecureTransport(ctx: S3Context): void {
  const url = new URL(ctx.request.url);
  if (url.protocol === "https:" || configOf(ctx.env).sseCAllowHttp) return;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (host === "127.0.0.1" || host === "::1" || host === "localhost" || host.endsWith(".localhost")) return;
  throw new S3Error("InvalidRequest", "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.");
}

/**
 * The keyed hash by which the edge recognises a customer key without storing it. Keyed by an edge secret and
 * bound to the bucket, so it is useless for guessing the key elsewhere.
 */
async function customerKeyHmac(ctx: S3Context, bucket: BucketRow, key: CustomerKey): Promise<string> {
  const data = JSON.stringify(["icn-edge/sse-c/v1", bucket.id, base64(key.raw)]);
  return hex(await hmacSha256(fromBase64(ctx.env.KEY_ENCRYPTION_KEY), data));
}

/** The key-encryption key of an SSE-C object: the customer's key itself, bound to the bucket like a bucket key. */
async function customerKek(bucket: BucketRow, key: CustomerKey): Promise<KeyEncryptionKey> {
  return { id: "sse-c", bucketId: bucket.id, key: await importDataKey(key.raw) };
}

async function sseS3(ctx: S3Context, bucket: BucketRow): Promise<WriteEncryption> {
  return { encryption: { mode: "AES256" }, kek: await bucketKeyFor(ctx.db, await ring(ctx), bucket) };
}

/**
 * How a new object (PutObject, CopyObject's destination, CreateMultipartUpload, PostObject) is encrypted:
 * SSE-C when the request carries a customer key, else what x-amz-server-side-encryption asks for, else the
 * bucket's default. Never plaintext.
 */
export async function encryptionForWrite(ctx: S3Context, bucket: BucketRow, fields: Headers = ctx.request.headers): Promise<WriteEncryption> {
  const requested = fields.get("x-amz-server-side-encryption");
  const customer = await customerKeyFrom(ctx, OBJECT_CUSTOMER_KEY);
  if (customer) {
    if (requested !== null) {
      throw new S3Error("InvalidArgument", "Server Side Encryption with Customer provided key is incompatible with the encryption method specified", {
        ArgumentName: "x-amz-server-side-encryption",
        ArgumentValue: requested,
      });
    }
    return {
      encryption: { mode: "SSE-C", customerKeyMd5: customer.md5, customerKeyHmac: await customerKeyHmac(ctx, bucket, customer) },
      kek: await customerKek(bucket, customer),
    };
  }
  const kmsKeyHeader = fields.get("x-amz-server-side-encryption-aws-kms-key-id");
  const bucketKeyHeader = fields.get("x-amz-server-side-encryption-bucket-key-enabled");
  if (kmsKeyHeader !== null && (requested === null || requested === "AES256")) {
    throw new S3Error("InvalidArgument", "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms", {
      ArgumentName: "x-amz-server-side-encryption-aws-kms-key-id",
    });
  }
  if (requested === "AES256") return sseS3(ctx, bucket);
  if (requested !== null && requested !== "aws:kms") {
    throw new S3Error("InvalidArgument", "The encryption method specified is not supported", { ArgumentName: "x-amz-server-side-encryption", ArgumentValue: requested });
  }
  const configured = await bucketEncryptionDefault(ctx, bucket);
  if (requested === null && (configured ?? SSE_S3_DEFAULT).algorithm === "AES256") return sseS3(ctx, bucket);
  // aws:kms, asked for or the bucket's default: the key named, else the default's, else the account's managed
  // aws/s3 key. BucketKeyEnabled likewise from the request, else the default.
  const keyRef = kmsKeyHeader ?? (configured?.algorithm === "aws:kms" ? configured.kmsKeyId : undefined);
  const bucketKeyEnabled = bucketKeyHeader === null ? (configured?.bucketKeyEnabled ?? false) : bucketKeyHeader.toLowerCase() === "true";
  return sseKms(ctx, bucket, keyRef, bucketKeyEnabled);
}

/** Checks a default a bucket owner is about to set (PutBucketEncryption): its KMS key must be usable. */
export async function validateBucketDefault(ctx: S3Context, bucket: BucketRow, config: BucketEncryptionDefault): Promise<void> {
  if (config.algorithm === "aws:kms" && config.kmsKeyId !== undefined) await usableKmsKey(ctx, bucket, config.kmsKeyId);
}

/** The alias of the KMS key S3 uses when aws:kms names none: one per account, made on first use. */
const MANAGED_S3_KEY_ALIAS = "alias/aws/s3";

/**
 * A KMS key of the bucket owner's account that may encrypt and decrypt now; otherwise S3's error for why not
 * (another account's key is AccessDenied, as S3 answers when the caller may not use it).
 */
async function usableKmsKey(ctx: S3Context, bucket: BucketRow, ref: string): Promise<UsableKmsKey> {
  const lookup = await resolveKmsKey(ctx.db, await ring(ctx), bucket.accountId, ref, ctx.region);
  if (lookup.ok) return lookup.key;
  throw kmsError(lookup.reason, ref);
}

function kmsError(reason: KmsKeyLookupFailure, ref: string): S3Error {
  switch (reason) {
    case "OtherAccount":
      return new S3Error("AccessDenied", "The caller is not allowed to use the KMS key.");
    case "Disabled":
      return new S3Error("KMS.DisabledException", `${ref} is disabled.`);
    case "PendingDeletion":
      return new S3Error("KMS.KMSInvalidStateException", `${ref} is pending deletion.`);
    case "NotFound":
    case "InvalidKeyId":
      return new S3Error("KMS.NotFoundException", `Invalid keyId '${ref}'`);
  }
}

/** The account's managed default key (alias/aws/s3), created the first time an account asks for aws:kms without a key. */
async function managedS3Key(ctx: S3Context, bucket: BucketRow): Promise<UsableKmsKey> {
  const keys = await ring(ctx);
  const found = await resolveKmsKey(ctx.db, keys, bucket.accountId, MANAGED_S3_KEY_ALIAS, ctx.region);
  if (found.ok) return found.key;
  if (found.reason !== "NotFound") throw kmsError(found.reason, MANAGED_S3_KEY_ALIAS);
  try {
    await createKmsKey(ctx.db, keys, bucket.accountId, { alias: MANAGED_S3_KEY_ALIAS, description: "Default key for SSE-KMS in S3 (managed by the edge)" }, ctx.region, ctx.now.getTime());
  } catch (error) {
    // A concurrent first use created it: use that one.
    if (!(error instanceof KmsError && error.code === "AliasTaken")) throw error;
  }
  return usableKmsKey(ctx, bucket, MANAGED_S3_KEY_ALIAS);
}

/**
 * SSE-KMS: data keys wrapped by a KMS key of the bucket owner. BucketKeyEnabled is recorded and echoed as S3
 * does; S3 uses it to save KMS requests, which cost nothing here (the KMS lives in the edge).
 */
async function sseKms(ctx: S3Context, bucket: BucketRow, keyRef: string | undefined, bucketKeyEnabled: boolean): Promise<WriteEncryption> {
  refuseKmsUnderSigV2(ctx.principal.signature);
  const key = keyRef === undefined ? await managedS3Key(ctx, bucket) : await usableKmsKey(ctx, bucket, keyRef);
  return {
    encryption: { mode: "aws:kms", kmsKeyId: key.keyId, kmsKeyArn: key.arn, bucketKeyEnabled },
    kek: kmsKek(bucket, key),
  };
}

function kmsKek(bucket: BucketRow, key: UsableKmsKey): KeyEncryptionKey {
  return { id: key.keyId, bucketId: bucket.id, key: key.key };
}

/**
 * Bucket defaults by bucket id, per isolate, so a PUT does not ask the bucket's index first. Put/Delete in this
 * isolate update it at once; another isolate may write with the previous default for up to this long.
 */
const DEFAULTS_CACHE_TTL_MS = 5_000;
const bucketDefaults = new TtlCache<string, { config: BucketEncryptionDefault | null }>(DEFAULTS_CACHE_TTL_MS);

/** The bucket's default encryption (PutBucketEncryption), or null when it has none (SSE-S3 then). */
export async function bucketEncryptionDefault(ctx: S3Context, bucket: BucketRow): Promise<BucketEncryptionDefault | null> {
  const cached = await bucketDefaults.get(bucket.id, Date.now(), async () => ({
    config: await bucketIndexFor(ctx.env, bucket.id).getConfig(ENCRYPTION_CONFIG),
  }));
  return cached!.config;
}

/** Sets (or, with null, deletes) a bucket's default encryption. */
export async function setBucketEncryptionDefault(ctx: S3Context, bucket: BucketRow, config: BucketEncryptionDefault | null): Promise<void> {
  const index = bucketIndexFor(ctx.env, bucket.id);
  if (config) await index.setConfig(ENCRYPTION_CONFIG, config);
  else await index.deleteConfig(ENCRYPTION_CONFIG);
  bucketDefaults.delete(bucket.id);
}

/**
 * The checks S3 makes on customer-key headers for an existing object, without touching any key: an SSE-C object
 * needs its customer's key in `names`, and any other object must not be sent one. Returns the customer key.
 */
export async function checkCustomerKey(
  ctx: S3Context,
  bucket: BucketRow,
  encryption: ObjectEncryption | undefined,
  names: CustomerKeyHeaders = OBJECT_CUSTOMER_KEY,
): Promise<CustomerKey | undefined> {
  const customer = await customerKeyFrom(ctx, names);
  if (encryption?.mode !== "SSE-C") {
    if (customer) throw new S3Error("InvalidRequest", "The encryption parameters are not applicable to this object.");
    return undefined;
  }
  if (!customer) {
    throw new S3Error("InvalidRequest", "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.");
  }
  // A wrong key learns nothing: not the object's size, type or anything but that access was denied.
  if ((await customerKeyHmac(ctx, bucket, customer)) !== encryption.customerKeyHmac) throw new S3Error("AccessDenied");
  return customer;
}

/**
 * The key that opens an existing object's data keys (GET, a copy source, the parts of an upload), after the
 * customer-key checks. A KMS key must be usable now (not disabled or pending deletion).
 */
export async function keyForRead(
  ctx: S3Context,
  bucket: BucketRow,
  encryption: ObjectEncryption | undefined,
  names: CustomerKeyHeaders = OBJECT_CUSTOMER_KEY,
): Promise<KeyEncryptionKey> {
  const customer = await checkCustomerKey(ctx, bucket, encryption, names);
  if (customer) return customerKek(bucket, customer);
  // SSE-S3, and objects from before edge encryption (plaintext segments need no key; parts added later to an
  // upload begun then were encrypted under the bucket key).
  if (!encryption || encryption.mode !== "aws:kms") return bucketKeyFor(ctx.db, await ring(ctx), bucket);
  refuseKmsUnderSigV2(ctx.principal.signature);
  return kmsKek(bucket, await usableKmsKey(ctx, bucket, encryption.kmsKeyArn));
}

/** The response headers S3 sends for an object's encryption (PUT, GET, HEAD, copy and multipart answers). */
export function setEncryptionHeaders(headers: Headers, encryption: ObjectEncryption | undefined): void {
  if (!encryption) return;
  switch (encryption.mode) {
    case "AES256":
      headers.set("x-amz-server-side-encryption", "AES256");
      return;
    case "aws:kms":
      headers.set("x-amz-server-side-encryption", "aws:kms");
      headers.set("x-amz-server-side-encryption-aws-kms-key-id", encryption.kmsKeyArn);
      if (encryption.bucketKeyEnabled) headers.set("x-amz-server-side-encryption-bucket-key-enabled", "true");
      return;
    case "SSE-C":
      headers.set("x-amz-server-side-encryption-customer-algorithm", "AES256");
      headers.set("x-amz-server-side-encryption-customer-key-md5", encryption.customerKeyMd5);
      return;
  }
}

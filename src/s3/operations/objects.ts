// Object operations: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects.

import { replicasOf, type ObjectRecord } from "../../services/object-model.ts";
import { freeBlobs, storeSegment, streamSegments } from "../../services/blob-storage.ts";
import { bucketIndex, requireOwnedBucket } from "../bucket-access.ts";
import { checksumHeaderName } from "../checksums.ts";
import type { S3Context } from "../context.ts";
import { S3Error } from "../errors.ts";
import {
  evaluateReadPreconditions,
  objectResponseHeaders,
  parseRange,
  storedHeadersFrom,
  userMetadataFrom,
  validateObjectKey,
} from "../object-headers.ts";
import { openPayload } from "../payload.ts";
import { quoteEtag, xmlResponse } from "../respond.ts";
import { childText, parseXml } from "../xml.ts";
import { storageEnv } from "./storage-env.ts";

export async function putObjectOp(ctx: S3Context, bucketName: string, key: string): Promise<Response> {
  const bucket = await requireOwnedBucket(ctx, bucketName);
  validateObjectKey(key);
  const headers = storedHeadersFrom(ctx.request.headers);
  const userMetadata = userMetadataFrom(ctx.request.headers);
  const payload = openPayload(ctx.request, ctx.principal);

  const segment = await storeSegment(storageEnv(ctx), payload);
  const record: ObjectRecord = {
    key,
    size: segment.size,
    etag: segment.md5,
    lastModified: ctx.now.getTime(),
    headers,
    userMetadata,
    storageClass: "STANDARD",
    segments: [segment],
    checksum: payload.checksum ? { algorithm: payload.checksum.algorithm, value: payload.checksum.value } : undefined,
  };
  const index = bucketIndex(ctx, bucket);
  let previous: ObjectRecord | null;
  try {
    previous = await index.putObject(record);
  } catch (error) {
    ctx.waitUntil(freeBlobs(storageEnv(ctx), segment.replicas));
    throw error;
  }
  if (previous) ctx.waitUntil(freeBlobs(storageEnv(ctx), replicasOf(previous.segments)));

  const response = new Headers({ etag: quoteEtag(record.etag) });
  if (record.checksum && payload.checksum) response.set(checksumHeaderName(payload.checksum.algorithm), record.checksum.value);
  return new Response(null, { status: 200, headers: response });
}

export async function getObjectOp(ctx: S3Context, bucketName: string, key: string, head: boolean): Promise<Response> {
  const bucket = await requireOwnedBucket(ctx, bucketName);
  const record = await bucketIndex(ctx, bucket).getObject(key);
  if (!record) throw new S3Error("NoSuchKey", undefined, { Key: key });

  // Preconditions come before Range (RFC 9110 section 13.2.2).
  const condition = evaluateReadPreconditions(record, ctx.request.headers);
  const range = condition === 304 ? undefined : parseRange(ctx.request.headers.get("range"), record.size);
  const headers = objectResponseHeaders(record, new URL(ctx.request.url).searchParams, ctx.request.headers, range === undefined);
  if (condition === 304) {
    const notModified = new Headers();
    for (const name of ["etag", "last-modified", "cache-control", "expires"]) {
      const v = headers.get(name);
      if (v !== null) notModified.set(name, v);
    }
    return new Response(null, { status: 304, headers: notModified });
  }

  const start = range?.start ?? 0;
  const end = range?.end ?? record.size - 1;
  const length = record.size === 0 ? 0 : end - start + 1;
  headers.set("content-length", String(length));
  if (range) headers.set("content-range", `bytes ${start}-${end}/${record.size}`);
  const status = range ? 206 : 200;
  if (head || length === 0) return new Response(null, { status, headers });

  const body = await streamSegments(storageEnv(ctx), record.segments, start, end, ctx.waitUntil);
  return new Response(body, { status, headers });
}

export async function deleteObjectOp(ctx: S3Context, bucketName: string, key: string): Promise<Response> {
  const bucket = await requireOwnedBucket(ctx, bucketName);
  const removed = await bucketIndex(ctx, bucket).deleteObject(key);
  if (removed) ctx.waitUntil(freeBlobs(storageEnv(ctx), replicasOf(removed.segments)));
  return new Response(null, { status: 204 });
}

/** DeleteObjects: up to 1000 keys; every key gets a Deleted or Error entry (Deleted omitted in quiet mode). */
export async function deleteObjectsOp(ctx: S3Context, bucketName: string): Promise<Response> {
  const bucket = await requireOwnedBucket(ctx, bucketName);
  const doc = parseXml(await ctx.request.text());
  if (!doc || doc.name !== "Delete") throw new S3Error("MalformedXML");
  const quiet = childText(doc, "Quiet")?.trim().toLowerCase() === "true";
  const keys = doc.children.filter((c) => c.name === "Object").map((o) => childText(o, "Key"));
  if (keys.length === 0 || keys.length > 1000 || keys.some((k) => k === undefined)) throw new S3Error("MalformedXML");

  const index = bucketIndex(ctx, bucket);
  const deleted: { Key: string }[] = [];
  const errors: { Key: string; Code: string; Message: string }[] = [];
  for (const key of keys as string[]) {
    try {
      const removed = await index.deleteObject(key);
      if (removed) ctx.waitUntil(freeBlobs(storageEnv(ctx), replicasOf(removed.segments)));
      deleted.push({ Key: key });
    } catch (error) {
      errors.push({ Key: key, Code: "InternalError", Message: String(error) });
    }
  }
  return xmlResponse("DeleteResult", { Deleted: quiet ? undefined : deleted, Error: errors });
}

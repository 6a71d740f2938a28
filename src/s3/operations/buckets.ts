// Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation.

import { deleteBucketRow, getBucket, insertBucket, listBuckets } from "../../db/accounts.ts";
import { randomHex } from "../../protocol/crypto.ts";
import { bucketIndex, requireOwnedBucket, validateBucketName } from "../bucket-access.ts";
import type { S3Context } from "../context.ts";
import { S3Error } from "../errors.ts";
import { isoTime, xmlResponse } from "../respond.ts";
import { childText, parseXml, toXmlText } from "../xml.ts";

export async function listBucketsOp(ctx: S3Context): Promise<Response> {
  const rows = await listBuckets(ctx.db, ctx.principal.accountId);
  return xmlResponse("ListAllMyBucketsResult", {
    Owner: { ID: ctx.principal.accountId, DisplayName: ctx.principal.accountId },
    Buckets: { Bucket: rows.map((b) => ({ Name: b.name, CreationDate: isoTime(b.createdAt), BucketRegion: b.region })) },
  });
}

export async function createBucketOp(ctx: S3Context, name: string): Promise<Response> {
  validateBucketName(name);
  const body = await ctx.request.text();
  if (body.trim() !== "") {
    const doc = parseXml(body);
    if (!doc || doc.name !== "CreateBucketConfiguration") throw new S3Error("MalformedXML");
    const constraint = childText(doc, "LocationConstraint");
    const regions = ctx.env.S3_REGIONS.split(",");
    if (constraint && !regions.includes(constraint)) {
      throw new S3Error("InvalidLocationConstraint", `The specified location-constraint '${constraint}' is not valid for this endpoint.`);
    }
  }
  const inserted = await insertBucket(ctx.db, {
    name,
    id: randomHex(16),
    accountId: ctx.principal.accountId,
    region: ctx.region,
    createdAt: ctx.now.getTime(),
  });
  if (!inserted) {
    const existing = await getBucket(ctx.db, name);
    throw new S3Error(existing?.accountId === ctx.principal.accountId ? "BucketAlreadyOwnedByYou" : "BucketAlreadyExists", undefined, { BucketName: name });
  }
  return new Response(null, { status: 200, headers: { location: `/${name}` } });
}

export async function headBucketOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = await requireOwnedBucket(ctx, name);
  return new Response(null, { status: 200, headers: { "x-amz-bucket-region": bucket.region } });
}

export async function deleteBucketOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = await requireOwnedBucket(ctx, name);
  if (!(await bucketIndex(ctx, bucket).isEmpty())) throw new S3Error("BucketNotEmpty", undefined, { BucketName: name });
  await deleteBucketRow(ctx.db, name);
  return new Response(null, { status: 204 });
}

export async function getBucketLocationOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = await requireOwnedBucket(ctx, name);
  // us-east-1 is reported as an empty LocationConstraint, as S3 does.
  const region = bucket.region === "us-east-1" ? "" : bucket.region;
  return new Response(toXmlText("LocationConstraint", region), { headers: { "content-type": "application/xml" } });
}

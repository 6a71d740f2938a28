// What Object Lock still protects across an account's buckets: the versions whose retention has not ended or that
// are under a legal hold. Deleting the account (its bucket keys and KMS keys), or destroying a KMS key, would
// crypto-erase them before their promise ends, so those requests are refused while anything here remains.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html

import { listBuckets } from "../db/accounts.ts";
import type { Db } from "../db/client.ts";
import type { Env } from "../env.ts";
import type { ProtectedVersions } from "../../workers/durable/bucket-index/bucket-index.ts";
import { bucketIndexFor } from "./bucket-indexes.ts";

export interface RetainedInBucket extends ProtectedVersions {
  bucket: string;
}

/**
 * The buckets of `accountId` holding versions Object Lock protects at `now`; with `kmsKeyId`, only versions
 * encrypted under that KMS key. Empty when nothing is protected.
 */
export async function retainedVersionsOf(env: Pick<Env, "BUCKET_INDEX">, db: Db, accountId: string, now: number, kmsKeyId?: string): Promise<RetainedInBucket[]> {
  const held: RetainedInBucket[] = [];
  for (const bucket of await listBuckets(db, accountId)) {
    const found = await bucketIndexFor(env, bucket.id).protectedVersions(now, kmsKeyId);
    if (found.count > 0) held.push({ bucket: bucket.name, ...found });
  }
  return held;
}

/** A sentence naming what is retained, for the 409 a refused deletion answers. */
export function describeRetained(held: readonly RetainedInBucket[], what: string): string {
  const total = held.reduce((sum, h) => sum + h.count, 0);
  const first = held[0]!;
  const example = first.example;
  const until = example?.legalHold ? "under a legal hold" : example?.retainUntil ? `retained until ${new Date(example.retainUntil).toISOString()}` : "retained";
  return `${what}: Object Lock protects ${total} object version(s) in ${held.length} bucket(s), e.g. ${first.bucket}/${example?.key ?? ""} (version ${example?.versionId ?? ""}) ${until}.`;
}

import type { Env } from "../env.ts";

/** The BucketIndex Durable Object of a bucket, named by the bucket's id (a recreated bucket gets a new one). */
export function bucketIndexFor(env: Pick<Env, "BUCKET_INDEX">, bucketId: string) {
  return env.BUCKET_INDEX.get(env.BUCKET_INDEX.idFromName(bucketId));
}

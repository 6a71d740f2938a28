import type { Env } from "../env.ts";
import type { BucketConfig, BucketConfigName, BucketIndex } from "../../workers/durable/bucket-index/bucket-index.ts";

/**
 * A stub of the BucketIndex Durable Object. RPC stub types drop a method's type parameters (the configuration
 * name would no longer decide the document's type), so the configuration methods are restated here as the
 * class declares them.
 */
export type BucketIndexStub = Omit<DurableObjectStub<BucketIndex>, "getConfig" | "setConfig"> & {
  getConfig<N extends BucketConfigName>(name: N): Promise<BucketConfig[N] | null>;
  setConfig<N extends BucketConfigName>(name: N, value: BucketConfig[N]): Promise<void>;
};

/** The BucketIndex Durable Object of a bucket, named by the bucket's id (a recreated bucket gets a new one). */
export function bucketIndexFor(env: Pick<Env, "BUCKET_INDEX">, bucketId: string): BucketIndexStub {
  // The one cast: the stub's configuration methods are the class's, without their type parameters.
  return env.BUCKET_INDEX.get(env.BUCKET_INDEX.idFromName(bucketId)) as unknown as BucketIndexStub;
}

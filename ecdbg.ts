import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { randomBytes } from "node:crypto";
import { LocalNetwork } from "/work/wt/ec/src/localnet/network.ts";
import { edgeS3Client } from "/work/wt/ec/test/helpers/test-support.ts";
const network = new LocalNetwork({ stateDir: "/tmp/ecdbg", edgePort: 0, quiet: true, nodeCount: 8, cron: false, vars: { TEST_CLOCK: "true" } });
const d = await network.start();
const s3 = edgeS3Client(d, { maxAttempts: 1 });
await s3.send(new CreateBucketCommand({ Bucket: "mixed" }));
for (const size of [16*1024*1024, 0, 1, 4096, 4097, 65536, 65537, 3 * 65536 + 7, 300 * 1024, 5*1024*1024+123]) {
  try {
    const data = randomBytes(size);
    await s3.send(new PutObjectCommand({ Bucket: "mixed", Key: `s${size}`, Body: data }));
    const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: "mixed", Key: `s${size}` }))).Body!.transformToByteArray());
    console.log(size, got.equals(data) ? "ok" : "MISMATCH");
    for (const [a, b] of [[1, Math.min(size - 1, 70000)], [Math.floor(size / 3), Math.floor(size / 2)], [size - 1, size - 1], [65535, Math.min(size - 1, 4 * 65536 + 5)]]) {
      if (a > b || b >= size) continue;
      try {
        const r = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: "mixed", Key: `s${size}`, Range: `bytes=${a}-${b}` }))).Body!.transformToByteArray());
        console.log(" range", a, b, r.equals(data.subarray(a, b + 1)) ? "ok" : "MISMATCH");
      } catch (e) { console.log(" range", a, b, "ERR", (e as Error).message); }
    }
  } catch (e) { console.log(size, "ERR", (e as Error).message); }
}
await network.stop();

// Worker entry: the HTTP app, the scheduled chores, and the Durable Object classes.

import { isControlApiRequest } from "./api/index.ts";
import { CONTROL_API_DRAIN_BYTES } from "./api/guards/body-limit.ts";
import { clockOf } from "./clock.ts";
import { app } from "./app.ts";
import { drainUnreadBody } from "./drain.ts";
import type { Env } from "./env.ts";
import { MAX_REQUEST_BODY } from "./s3/payload.ts";
import { runAllChores } from "../workers/cron/chores.ts";
import gfKernel from "./protocol/gf-kernel.wasm";
import { installGfKernel } from "./protocol/reed-solomon.ts";

// The erasure codec's WebAssembly SIMD kernel, bundled as a module: Workers compile no WebAssembly from bytes.
installGfKernel(gfKernel);

export { BucketIndex } from "../workers/durable/bucket-index/bucket-index.ts";

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext) {
    const response = await app.fetch(request, env, ctx);
    // Control-API bodies are small: past a little, an unread remainder is not waited for (src/api/guards/body-limit.ts).
    const drainLimit = isControlApiRequest(request, env) ? CONTROL_API_DRAIN_BYTES : MAX_REQUEST_BODY;
    await drainUnreadBody(request, drainLimit);
    return response;
  },
  async scheduled(controller, env) {
    await runAllChores(env, (await clockOf(env)).at(controller.scheduledTime));
  },
} satisfies ExportedHandler<Env>;

// Worker entry: the HTTP app, the scheduled chores, and the Durable Object classes.

import { isControlApiRequest } from "./api/index.ts";
import { CONTROL_API_DRAIN_BYTES } from "./api/guards/body-limit.ts";
import { clockOf } from "./clock.ts";
import { configOf } from "./config.ts";
import { withConnectionLimit } from "./services/connection-limit.ts";
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
export { ChallengeCoordinator } from "../workers/durable/challenge-coordinator/challenge-coordinator.ts";
export { ProtocolTransactions } from "../workers/durable/protocol-transactions/protocol-transactions.ts";

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext) {
    return withConnectionLimit(configOf(env).connectionLimitEnforced, async () => {
      const response = await app.fetch(request, env, ctx);
      // Control-API bodies are small: past a little, an unread remainder is not waited for (src/api/guards/body-limit.ts).
      const drainLimit = isControlApiRequest(request, env) ? CONTROL_API_DRAIN_BYTES : MAX_REQUEST_BODY;
      await drainUnreadBody(request, drainLimit);
      return response;
    });
  },
  scheduled(controller, env) {
    return withConnectionLimit(configOf(env).connectionLimitEnforced, async () => {
      await runAllChores(env, (await clockOf(env)).at(controller.scheduledTime), controller.cron);
    });
  },
} satisfies ExportedHandler<Env>;

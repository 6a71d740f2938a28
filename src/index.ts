// Worker entry: the HTTP app, the scheduled chores, and the Durable Object classes.

import { clockOf } from "./clock.ts";
import { app } from "./app.ts";
import { drainUnreadBody } from "./drain.ts";
import type { Env } from "./env.ts";
import { MAX_REQUEST_BODY } from "./s3/payload.ts";
import { runAllChores } from "../workers/cron/chores.ts";

export { BucketIndex } from "../workers/durable/bucket-index.ts";

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext) {
    const response = await app.fetch(request, env, ctx);
    await drainUnreadBody(request, MAX_REQUEST_BODY);
    return response;
  },
  async scheduled(controller, env) {
    await runAllChores(env, (await clockOf(env)).at(controller.scheduledTime));
  },
} satisfies ExportedHandler<Env>;

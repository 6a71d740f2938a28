// Worker entry: the HTTP app, the scheduled chores, and the Durable Object classes.

import { app } from "./app.ts";
import type { Env } from "./env.ts";
import { runOnce as runNodeLiveness } from "../workers/cron/node-liveness.ts";

export { BucketIndex } from "../workers/durable/bucket-index.ts";

export default {
  fetch: app.fetch,
  async scheduled(controller, env, ctx) {
    const report = await runNodeLiveness(env, new Date(controller.scheduledTime));
    console.log(JSON.stringify(report));
    void ctx;
  },
} satisfies ExportedHandler<Env>;

// Worker entry: the HTTP app, the scheduled chores, and the Durable Object classes.

import { app } from "./app.ts";
import type { Env } from "./env.ts";
import { runAllChores } from "../workers/cron/chores.ts";

export { BucketIndex } from "../workers/durable/bucket-index.ts";

export default {
  fetch: app.fetch,
  async scheduled(controller, env) {
    await runAllChores(env, new Date(controller.scheduledTime));
  },
} satisfies ExportedHandler<Env>;

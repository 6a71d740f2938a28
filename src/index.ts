// Worker entry: the HTTP app, the scheduled chores, and the Durable Object classes.

import { app } from "./app.ts";
import type { Env } from "./env.ts";
import { runOnce as runBucketLifecycle } from "../workers/cron/bucket-lifecycle.ts";
import { runOnce as runNodeLiveness } from "../workers/cron/node-liveness.ts";
import { runOnce as runStakeCheck } from "../workers/cron/stake-check.ts";

export { BucketIndex } from "../workers/durable/bucket-index.ts";

/** Every scheduled chore, run in order on each cron tick; one failing does not stop the others. */
const CHORES: { name: string; runOnce: (env: Env, now: Date) => Promise<unknown> }[] = [
  { name: "node-liveness", runOnce: runNodeLiveness },
  { name: "stake-check", runOnce: runStakeCheck },
  { name: "bucket-lifecycle", runOnce: runBucketLifecycle },
];

export default {
  fetch: app.fetch,
  async scheduled(controller, env) {
    const now = new Date(controller.scheduledTime);
    for (const chore of CHORES) {
      try {
        console.log(JSON.stringify(await chore.runOnce(env, now)));
      } catch (error) {
        console.error(JSON.stringify({ event: "chore_failed", chore: chore.name, error: String(error) }));
      }
    }
  },
} satisfies ExportedHandler<Env>;

// Admin: the test clock (src/clock.ts). With TEST_CLOCK on, the Worker and end-to-end tests move the edge's time
// forward to reach lifecycle ages, liveness windows and (later) challenge and settlement periods without waiting.
// With it off these routes do not exist (404), whoever asks.

import { Hono } from "hono";
import { z } from "zod";
import { clockOf } from "../clock.ts";
import { configOf } from "../config.ts";
import { openDb } from "../db/client.ts";
import { addClockOffset, clearClockOffset } from "../db/clock.ts";
import type { Env } from "../env.ts";
import { ApiError } from "./errors.ts";
import { parseJsonBody } from "./guards/json-body.ts";

export const clockApi = new Hono<{ Bindings: Env }>();

/** Ten years: more than any period the edge knows, small enough that Date arithmetic stays exact. */
const MAX_ADVANCE_SECONDS = 10 * 365 * 24 * 3600;

export const advanceClockRequestSchema = z.object({
  advanceSeconds: z.number().int().min(0).max(MAX_ADVANCE_SECONDS),
});

clockApi.use("/clock", async (c, next) => {
  if (!configOf(c.env).testClock) throw new ApiError(404, "NotFound", `No API route ${c.req.method} ${new URL(c.req.url).pathname}`);
  await next();
});

async function clockView(env: Env) {
  const clock = await clockOf(env);
  return { now: clock.now().toISOString(), offsetSeconds: clock.offsetMs / 1000 };
}

clockApi.get("/clock", async (c) => c.json(await clockView(c.env)));

/** Moves the clock forward; it never goes back while the edge runs, except by a reset to real time. */
clockApi.post("/clock", async (c) => {
  const { advanceSeconds } = await parseJsonBody(c.req.raw, advanceClockRequestSchema);
  await addClockOffset(openDb(c.env.DB), advanceSeconds * 1000);
  return c.json(await clockView(c.env));
});

/** Back to real time (between tests). */
clockApi.delete("/clock", async (c) => {
  await clearClockOffset(openDb(c.env.DB));
  return c.json(await clockView(c.env));
});

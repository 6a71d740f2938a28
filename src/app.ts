// The hono app: the JSON control API under /api/v1, and everything else is the S3 surface.

import { Hono } from "hono";
import { controlApi } from "./api/index.ts";
import { apiErrorResponse } from "./api/error-response.ts";
import type { Env } from "./env.ts";
import { handleS3 } from "./s3/handler.ts";

export const app = new Hono<{ Bindings: Env }>();

app.route("/api/v1", controlApi);
app.all("*", (c) => handleS3(c.req.raw, c.env, (p) => c.executionCtx.waitUntil(p)));

app.onError((error, c) => apiErrorResponse(c, error, "unhandled_error"));

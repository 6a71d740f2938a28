// The hono app: the JSON control API under /api/v1, and everything else is the S3 surface.

import { Hono } from "hono";
import { CONTROL_API_PREFIX, controlApi, controlApiNotFound } from "./api/index.ts";
import { apiErrorResponse } from "./api/error-response.ts";
import type { Env } from "./env.ts";
import { handleS3 } from "./s3/handler.ts";

export const app = new Hono<{ Bindings: Env }>();

app.route(CONTROL_API_PREFIX, controlApi);
// A mounted app's notFound is not consulted once the parent has a catch-all: without these, /api/v1/<typo> would
// fall through to S3 as a request on bucket "api".
app.all(CONTROL_API_PREFIX, controlApiNotFound);
app.all(`${CONTROL_API_PREFIX}/*`, controlApiNotFound);
app.all("*", (c) => handleS3(c.req.raw, c.env, (p) => c.executionCtx.waitUntil(p)));

app.onError((error, c) => apiErrorResponse(c, error, "unhandled_error"));

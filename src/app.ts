// The hono app: the JSON control API under /api/v1, and everything else is the S3 surface.

import { Hono } from "hono";
import { CONTROL_API_PREFIX, controlApi, controlApiNotFound, isControlApiRequest } from "./api/index.ts";
import { apiErrorResponse } from "./api/error-response.ts";
import type { Env } from "./env.ts";
import { handleS3 } from "./s3/handler.ts";

export const app = new Hono<{ Bindings: Env }>();

// Everything that is not the control API is S3, including /api/v1/... on a virtual-hosted bucket's host.
app.use("*", async (c, next) => {
  if (!isControlApiRequest(c.req.raw, c.env)) return handleS3(c.req.raw, c.env, (p) => c.executionCtx.waitUntil(p));
  await next();
});
app.route(CONTROL_API_PREFIX, controlApi);
// A mounted app's notFound is not consulted by its parent: without these, /api/v1/<typo> would be a bare 404.
app.all(CONTROL_API_PREFIX, controlApiNotFound);
app.all(`${CONTROL_API_PREFIX}/*`, controlApiNotFound);

app.onError((error, c) => apiErrorResponse(c, error, "unhandled_error"));

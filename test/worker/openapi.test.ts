/// <reference types="vite/client" />
// The OpenAPI document cannot silently fall behind the code: every route the control API registers with hono is
// described and every described operation exists, and every error code a control-API module throws is listed
// under its status. A new route or a new `new ApiError(...)` fails here until src/api/openapi.ts says it.

import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { controlApi } from "../../src/api/index.ts";
import { admin, EDGE } from "./helpers.ts";

interface ErrorResponse {
  description: string;
  headers?: Record<string, unknown>;
  content: { "application/json": { schema: { allOf: [unknown, { properties: { code: { enum: string[] } } }] } } };
}
interface Operation {
  parameters?: { name: string; in: string }[];
  responses: Record<string, ErrorResponse>;
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
}

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options"];

/** hono writes `/keys/:ref{.+}/alias`, OpenAPI `/keys/{ref}/alias`. */
function openApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z_]\w*)(\{[^}]*\})?/g, "{$1}");
}

async function servedDocument(): Promise<Document> {
  const res = await SELF.fetch(`${EDGE}/api/v1/openapi.json`);
  expect(res.status).toBe(200);
  return (await res.json()) as Document;
}

function operations(doc: Document): { method: string; path: string; operation: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, operation]) => ({ method, path, operation })),
  );
}

/** `status code` for every error code the document lists on some operation. */
function documentedErrors(doc: Document): Set<string> {
  const out = new Set<string>();
  for (const { operation } of operations(doc)) {
    for (const [status, response] of Object.entries(operation.responses)) {
      for (const code of response.content?.["application/json"]?.schema?.allOf?.[1]?.properties?.code?.enum ?? []) out.add(`${status} ${code}`);
    }
  }
  return out;
}

// The control API's sources as text (Vite's glob import), to find the codes they throw.
const sources = import.meta.glob<string>("../../src/api/**/*.ts", { query: "?raw", import: "default", eager: true });

/**
 * `status code` of every literal ApiError in the control API's modules. A guard no route module imports yet (the
 * HMAC guard waits for the webhook routes) is skipped until one does.
 */
function thrownErrors(): Set<string> {
  const files = Object.entries(sources);
  const imported = (file: string) => {
    const name = file.slice(file.lastIndexOf("/"));
    return files.some(([other, text]) => other !== file && text.includes(`${name}"`));
  };
  const out = new Set<string>();
  for (const [file, text] of files) {
    if (file.includes("/guards/") && !imported(file)) continue;
    for (const match of text.matchAll(/(?:new ApiError|super)\(\s*(\d{3}),\s*"([A-Za-z0-9]+)"/g)) out.add(`${match[1]} ${match[2]}`);
  }
  return out;
}

describe("the OpenAPI document", () => {
  it("is OpenAPI 3.1 served as JSON", async () => {
    const doc = await servedDocument();
    expect(doc.openapi).toBe("3.1.0");
  });

  it("describes every route the control API registers, and no route that does not exist", async () => {
    const doc = await servedDocument();
    const routes = new Set<string>();
    for (const route of controlApi.routes) {
      const path = openApiPath(route.path);
      if (route.method === "ALL") {
        // Middleware (use): over a prefix it is no route; on one path (the test clock's gate) that path is described.
        if (!path.endsWith("*")) expect(doc.paths[path], `middleware on ${path}`).toBeDefined();
        continue;
      }
      routes.add(`${route.method.toLowerCase()} ${path}`);
    }
    expect(routes.size).toBeGreaterThan(30);
    const described = new Set(operations(doc).map(({ method, path }) => `${method} ${path}`));
    expect([...routes].filter((r) => !described.has(r)), "routes missing from the document").toEqual([]);
    expect([...described].filter((d) => !routes.has(d)), "documented operations no route serves").toEqual([]);
  });

  it("declares every path parameter of every operation", async () => {
    const doc = await servedDocument();
    for (const { method, path, operation } of operations(doc)) {
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const declared = (operation.parameters ?? []).filter((p) => p.in === "path").map((p) => p.name);
      expect(declared.sort(), `${method} ${path}`).toEqual(inPath.sort());
    }
  });

  it("lists every error code the control API throws under its status", async () => {
    const thrown = thrownErrors();
    // The scan sees the codes the brief of issue 13 added (a regex that matched nothing would pass vacuously).
    for (const expected of ["413 PayloadTooLarge", "429 TooManyRequests", "429 SlowDown", "400 XAmzContentSHA256Mismatch", "400 InvalidNodeUrl", "503 EdgeIdNotConfigured", "503 ChainUnavailable", "404 NotFound"]) {
      expect(thrown, expected).toContain(expected);
    }
    const documented = documentedErrors(await servedDocument());
    expect([...thrown].filter((e) => !documented.has(e)), "error codes missing from the document").toEqual([]);
  });

  it("gives every 429 a Retry-After header, and a body cap to every operation that reads a body", async () => {
    const doc = await servedDocument();
    for (const { method, path, operation } of operations(doc)) {
      const tooMany = operation.responses["429"];
      if (tooMany) expect(tooMany.headers?.["Retry-After"], `${method} ${path}`).toBeDefined();
      if ("requestBody" in operation) expect(operation.responses["413"], `${method} ${path}`).toBeDefined();
    }
    const scrub = doc.paths["/nodes/{nodeId}/scrub-report"]!.post!;
    expect(scrub.responses["429"]!.content["application/json"].schema.allOf[1].properties.code.enum).toEqual(["TooManyRequests", "SlowDown"]);
  });

  it("describes the registration domain and the test clock as the edge answers them", async () => {
    const doc = (await servedDocument()) as unknown as { components: { schemas: Record<string, { required: string[] }> } };
    const domain = await (await SELF.fetch(`${EDGE}/api/v1/nodes/registration-domain`)).json();
    expect(Object.keys(domain as object).sort()).toEqual([...doc.components.schemas.RegistrationDomain!.required].sort());
    const clock = await (await admin("GET", "/clock")).json();
    expect(Object.keys(clock as object).sort()).toEqual([...doc.components.schemas.Clock!.required].sort());
  });
});

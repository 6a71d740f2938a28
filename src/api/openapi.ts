// OpenAPI 3.1 description of the control API, served at GET /api/v1/openapi.json.
// Request schemas come from the same zod schemas the handlers validate with.

import { z } from "zod";
import { heartbeatSchema, registrationRequestSchema } from "../protocol/node-protocol.ts";
import { slashRequestSchema } from "./admin.ts";

const error = { $ref: "#/components/schemas/Error" };
const errors = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [String(c), { description: "JSON error with a stable code", content: { "application/json": { schema: error } } }]));
const json = (schema: unknown) => ({ content: { "application/json": { schema } } });
const admin = [{ adminToken: [] }];
const node = [{ nodeSigV4: [] }];

export function openApiDocument() {
  return {
    openapi: "3.1.0",
    info: { title: "ICN Edge control API", version: "1" },
    servers: [{ url: "/api/v1" }],
    components: {
      securitySchemes: {
        adminToken: { type: "http", scheme: "bearer", description: "The Worker's ADMIN_TOKEN secret." },
        nodeSigV4: { type: "apiKey", in: "header", name: "Authorization", description: "AWS SigV4 with the node's credentials, region 'icn', service 'icn'." },
      },
      schemas: {
        Error: { type: "object", required: ["code", "message"], properties: { code: { type: "string" }, message: { type: "string" }, details: {} } },
        RegistrationRequest: z.toJSONSchema(registrationRequestSchema),
        Heartbeat: z.toJSONSchema(heartbeatSchema),
      },
    },
    paths: {
      "/nodes/register": {
        post: {
          summary:
            "Register (or re-register) a node; the operator's wallet signs an EIP-712 NodeRegistration message, and with a chain configured the operator's NodeStaking stake for the node must cover its capacity (403 InsufficientStake)",
          requestBody: json({ $ref: "#/components/schemas/RegistrationRequest" }),
          responses: { "200": { description: "The node's SigV4 credentials (secret shown once)" }, ...errors(400, 401, 403, 409, 503) },
        },
      },
      "/nodes/{nodeId}/heartbeat": {
        post: { summary: "Report disk usage and health", security: node, requestBody: json({ $ref: "#/components/schemas/Heartbeat" }), responses: { "200": { description: "ok" }, ...errors(400, 403) } },
      },
      "/nodes/{nodeId}/offline": {
        post: { summary: "The node is shutting down: it gets no new data", security: node, responses: { "200": { description: "ok" }, ...errors(403) } },
      },
      "/admin/operators": { get: { summary: "List operators", security: admin, responses: { "200": { description: "operators" }, ...errors(401) } } },
      "/admin/operators/{address}": {
        put: { summary: "Create an operator or set its status (pending, approved, suspended)", security: admin, responses: { "200": { description: "the operator" }, ...errors(400, 401) } },
      },
      "/admin/accounts": {
        get: { summary: "List accounts", security: admin, responses: { "200": { description: "accounts" }, ...errors(401) } },
        post: { summary: "Create an account", security: admin, responses: { "201": { description: "the account" }, ...errors(400, 401) } },
      },
      "/admin/accounts/{id}/keys": {
        get: { summary: "List an account's access keys (ids only)", security: admin, responses: { "200": { description: "keys" }, ...errors(401, 404) } },
        post: { summary: "Create an access key; the secret is returned once", security: admin, responses: { "201": { description: "the key pair" }, ...errors(401, 404) } },
      },
      "/admin/nodes": { get: { summary: "List nodes with their state", security: admin, responses: { "200": { description: "nodes" }, ...errors(401) } } },
      "/admin/nodes/{id}": {
        put: { summary: "Set a node's status (active, draining, offline, suspended)", security: admin, responses: { "200": { description: "the node" }, ...errors(400, 401, 404) } },
      },
      "/admin/nodes/{id}/slash": {
        post: {
          summary: "Slash the node's stake with the protocol key (ICNT to the treasury); suspends the node if it falls below its minimum",
          security: admin,
          requestBody: json(z.toJSONSchema(slashRequestSchema)),
          responses: { "200": { description: "the transaction and the stake left" }, ...errors(400, 401, 404, 422, 503) },
        },
      },
    },
  };
}

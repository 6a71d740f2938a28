// OpenAPI 3.1 description of the control API, served at GET /api/v1/openapi.json.
// Request schemas come from the same zod schemas the handlers validate with.

import { z } from "zod";
import { heartbeatSchema, registrationRequestSchema } from "../protocol/node-protocol.ts";
import { slashRequestSchema } from "./admin.ts";
import { createKmsKeyRequestSchema, scheduleKmsKeyDeletionRequestSchema, setKmsKeyAliasRequestSchema } from "./kms.ts";

const error = { $ref: "#/components/schemas/Error" };
const errors = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [String(c), { description: "JSON error with a stable code", content: { "application/json": { schema: error } } }]));
const json = (schema: unknown) => ({ content: { "application/json": { schema } } });
const admin = [{ adminToken: [] }];
const node = [{ nodeSigV4: [] }];
const tenant = [{ accountSigV4: [] }];
const kmsKey = { $ref: "#/components/schemas/KmsKey" };
const keyRef = [
  {
    name: "ref",
    in: "path",
    required: true,
    description: "A key id, an alias (alias/name) or a key or alias ARN, written as is: slashes stay, nothing is percent-encoded (with curl, which signs the path as typed, write an ARN's ':' as %3A).",
    schema: { type: "string" },
  },
];

export function openApiDocument() {
  return {
    openapi: "3.1.0",
    info: { title: "ICN Edge control API", version: "1" },
    servers: [{ url: "/api/v1" }],
    components: {
      securitySchemes: {
        adminToken: { type: "http", scheme: "bearer", description: "The Worker's ADMIN_TOKEN secret." },
        nodeSigV4: { type: "apiKey", in: "header", name: "Authorization", description: "AWS SigV4 with the node's credentials, region 'icn', service 'icn'." },
        accountSigV4: {
          type: "apiKey",
          in: "header",
          name: "Authorization",
          description:
            "AWS SigV4 with the account's S3 access key, service 'kms', any region the edge accepts; the body is signed. " +
            `e.g. curl --aws-sigv4 "aws:amz:us-east-1:kms" --user AKID:SECRET -H 'content-type: application/json' -d '{"alias":"alias/backups"}' https://<edge>/api/v1/kms/keys`,
        },
      },
      schemas: {
        Error: { type: "object", required: ["code", "message"], properties: { code: { type: "string" }, message: { type: "string" }, details: {} } },
        RegistrationRequest: z.toJSONSchema(registrationRequestSchema),
        Heartbeat: z.toJSONSchema(heartbeatSchema),
        KmsKey: {
          type: "object",
          description: "A KMS key's metadata; the key material never leaves the edge.",
          required: ["keyId", "arn", "accountId", "description", "state", "createdAt"],
          properties: {
            keyId: { type: "string", format: "uuid" },
            arn: { type: "string", description: "arn:aws:kms:<region>:<accountId>:key/<keyId>" },
            accountId: { type: "string" },
            alias: { type: "string" },
            aliasArn: { type: "string" },
            description: { type: "string" },
            state: { type: "string", enum: ["Enabled", "Disabled", "PendingDeletion"] },
            deletionDate: { type: "integer", description: "ms since the epoch; only while PendingDeletion" },
            createdAt: { type: "integer", description: "ms since the epoch" },
          },
        },
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
      "/kms/keys": {
        get: { summary: "List the account's KMS keys", security: tenant, responses: { "200": { description: "the keys", ...json({ type: "object", properties: { keys: { type: "array", items: kmsKey } } }) }, ...errors(403) } },
        post: {
          summary: "Create a KMS key (AES-256, Enabled) for SSE-KMS",
          security: tenant,
          requestBody: json(z.toJSONSchema(createKmsKeyRequestSchema)),
          responses: { "201": { description: "the key", ...json(kmsKey) }, ...errors(400, 403, 409) },
        },
      },
      "/kms/keys/{ref}": {
        get: { summary: "Describe a KMS key of the account", security: tenant, parameters: keyRef, responses: { "200": { description: "the key", ...json(kmsKey) }, ...errors(400, 403, 404) } },
      },
      "/kms/keys/{ref}/disable": {
        post: { summary: "Disable the key: SSE-KMS reads and writes with it fail until it is enabled", security: tenant, parameters: keyRef, responses: { "200": { description: "the key", ...json(kmsKey) }, ...errors(400, 403, 404, 409) } },
      },
      "/kms/keys/{ref}/enable": {
        post: { summary: "Enable a disabled key", security: tenant, parameters: keyRef, responses: { "200": { description: "the key", ...json(kmsKey) }, ...errors(400, 403, 404, 409) } },
      },
      "/kms/keys/{ref}/schedule-deletion": {
        post: {
          summary: "Schedule the key's destruction after 7-30 days (default 30); it is unusable meanwhile. Destruction is final: objects under the key become unreadable",
          security: tenant,
          parameters: keyRef,
          requestBody: json(z.toJSONSchema(scheduleKmsKeyDeletionRequestSchema, { io: "input" })),
          responses: { "200": { description: "the key, PendingDeletion with its deletionDate", ...json(kmsKey) }, ...errors(400, 403, 404, 409) },
        },
      },
      "/kms/keys/{ref}/cancel-deletion": {
        post: { summary: "Cancel a scheduled deletion; the key comes back Disabled", security: tenant, parameters: keyRef, responses: { "200": { description: "the key", ...json(kmsKey) }, ...errors(400, 403, 404, 409) } },
      },
      "/kms/keys/{ref}/alias": {
        put: {
          summary: "Give the key an alias (alias/name, unique in the account), replacing its old one",
          security: tenant,
          parameters: keyRef,
          requestBody: json(z.toJSONSchema(setKmsKeyAliasRequestSchema)),
          responses: { "200": { description: "the key", ...json(kmsKey) }, ...errors(400, 403, 404, 409) },
        },
        delete: { summary: "Remove the key's alias", security: tenant, parameters: keyRef, responses: { "200": { description: "the key", ...json(kmsKey) }, ...errors(400, 403, 404) } },
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

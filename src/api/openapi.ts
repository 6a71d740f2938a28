// OpenAPI 3.1 description of the control API, served at GET /api/v1/openapi.json.
// Request schemas come from the same zod schemas the handlers validate with; error answers list the `code` strings
// the handlers and guards throw (`new ApiError(`), by status. test/worker/openapi.test.ts fails when a route or an
// error code is missing here.

import { z } from "zod";
import { CHORES } from "../../workers/cron/chores.ts";
import { usageQuerySchema } from "./usage.ts";
import { NODE_STATUSES, OPERATOR_STATUSES } from "../db/schema.ts";
import {
  heartbeatSchema,
  NODE_STANDINGS,
  MAX_SCRUB_FINDINGS_PER_REPORT,
  nodeIdSchema,
  registrationDomainInfoSchema,
  registrationRequestSchema,
  scrubReportSchema,
} from "../protocol/node-protocol.ts";
import { slashRequestSchema } from "./admin.ts";
import { advanceClockRequestSchema } from "./clock.ts";
import { erasureSpeedRequestSchema } from "./diagnostics.ts";
import { MAX_CLOCK_SKEW_MS } from "../protocol/sigv4.ts";
import { MAX_CONTROL_BODY_BYTES } from "./guards/body-limit.ts";
import { RATE_LIMIT_PERIOD_S } from "./guards/rate-limit.ts";
import { ledgerQuerySchema, paymentWebhookEventSchema, paymentsQuerySchema, publishPriceSheetRequestSchema, trialBalanceQuerySchema, WEBHOOK_MAX_BODY_BYTES, BANK_STATEMENT_MAX_BYTES } from "./finance.ts";
import { PAYMENT_CURRENCIES } from "../finance/money.ts";
import { alertsQuerySchema, financeInvoicesQuerySchema } from "./finance-exports.ts";
import { customerInvoicesQuerySchema } from "./invoices.ts";
import { MAX_IMPORT_ROWS } from "../finance/bank-import.ts";
import { createKmsKeyRequestSchema, scheduleKmsKeyDeletionRequestSchema, setKmsKeyAliasRequestSchema } from "./kms.ts";
import { accessAuditQuerySchema } from "./access-audit.ts";
import { createAccessKeyRequestSchema } from "./access-keys.ts";
import { linkWalletRequestSchema } from "../protocol/wallet-link.ts";
import { keyScopeSchema } from "../s3/key-scope.ts";
import { SCRUB_REPORT_WINDOW_MS, SCRUB_REPORTS_PER_WINDOW } from "./nodes.ts";

// ---- Building blocks

const errorRef = { $ref: "#/components/schemas/Error" };
const kmsKey = { $ref: "#/components/schemas/KmsKey" };
const accessKey = { $ref: "#/components/schemas/AccessKey" };
const json = (schema: unknown) => ({ content: { "application/json": { schema } } });
const ok = (description: string, schema?: unknown) => (schema === undefined ? { description } : { description, ...json(schema) });
const object = (properties: Record<string, unknown>, required = Object.keys(properties)) => ({ type: "object", required, properties });
const integer = { type: "integer" };
const string = { type: "string" };
const okTrue = { type: "boolean", const: true };
const nullable = (schema: object) => ({ anyOf: [schema, { type: "null" }] });
const accountWallet = object({
  accountId: string,
  wallet: { type: ["string", "null"], description: "checksummed address" },
  linkedAt: { type: ["string", "null"], format: "date-time" },
  escrow: nullable(
    object({
      address: string,
      balance: string,
      withdrawal: nullable(object({ amount: string, period: { ...string, description: "the settlement period it waits for" }, withdrawable: string })),
      lastSettledPeriod: string,
    }),
  ),
});

// ---- Error answers

/** What each code a route may answer means to its caller. */
const ERROR_MEANINGS = {
  // Any body
  InvalidJson: "the body is not valid JSON",
  ValidationError: "a body field or path parameter is invalid; details lists each {path, message}",
  PayloadTooLarge: "the body is over the route's cap (details.maxBytes); refused before the rest is read",
  // Signed calls (nodes, KMS)
  XAmzContentSHA256Mismatch: "the body does not hash to the x-amz-content-sha256 the request was signed with",
  AccessDenied: "no SigV4 Authorization header, a request not signed as required, credentials of another node, or a scoped access key (the account's routes accept only its unrestricted keys)",
  AuthorizationHeaderMalformed: "the Authorization header or its credential scope (region, service, date) is wrong",
  InvalidAccessKeyId: "the access key id is unknown",
  RequestTimeTooSkewed: `x-amz-date is more than ${MAX_CLOCK_SKEW_MS / 60_000} minutes away from the edge's clock`,
  SignatureDoesNotMatch: "the signature does not match the request",
  TooManyRequests: `the caller's requests per ${RATE_LIMIT_PERIOD_S} s are used up; retry after Retry-After seconds`,
  // Admin and finance
  Unauthorized: "no valid bearer token: the admin token on /admin routes, the finance token (FINANCE_TOKEN) on /finance routes",
  // Registration
  SignatureExpired: "the registration's expiry has passed",
  ExpiryTooFar: "the registration's expiry is more than an hour ahead",
  InvalidNodeUrl:
    "the node URL is refused: only scheme, host, port and a base path; no loopback, private or link-local addresses or localhost names unless the edge allows them (NODE_URLS_ALLOW_PRIVATE)",
  InvalidSignature: "the signature is not a valid EIP-712 signature",
  WrongSigner: "the message was not signed by the operator it names",
  UnknownOperator: "the operator is not registered",
  OperatorNotApproved: "the operator is pending or suspended",
  StakeOperatorMismatch: "the node's NodeStaking stake is bound to another operator",
  InsufficientStake: "the node's NodeStaking stake does not cover its capacity (details: nodeKey, bonded, required)",
  NodeIdTaken: "the node id belongs to another operator",
  NonceReplayed: "the registration nonce was already used",
  NoSuchClaim: "the address has no reward in that period",
  EdgeIdNotConfigured: "EDGE_ID is not set to a valid edge id: this edge accepts no registrations",
  ChainUnavailable: "the chain could not be read or written; try again",
  // Scrub reports
  SlowDown: `more than ${SCRUB_REPORTS_PER_WINDOW} scrub reports from this node in ${SCRUB_REPORT_WINDOW_MS / 60_000} minutes; send the findings again after Retry-After seconds`,
  // KMS
  NoSuchKmsKey: "no key of the account has this id, alias or ARN (another account's key answers the same)",
  KmsKeyInvalidState: "the key's state does not allow this (e.g. enabling a key pending deletion)",
  ObjectLockRetention: "Object Lock still protects object versions this would crypto-erase (a retention not yet over, or a legal hold); details list the buckets",
  AliasTaken: "the alias already names another key of the account",
  // Access keys
  NoSuchAccessKey: "the account has no access key with this id (another account's key answers the same)",
  LastUnrestrictedKey: "the key is the account's last working unrestricted key: mint another before revoking it",
  // Admin resources
  NoSuchAccount: "the account does not exist",
  NoSuchNode: "the node does not exist",
  NoSuchChore: "no chore has this name",
  NodeUnavailable: "the node did not answer the request to start a scrub",
  ChainNotConfigured: "CHAIN_RPC_URL is not set: there is no chain to slash on, no validators and no escrow to prepay into",
  // Validators
  NoSuchRound: "no challenge round has this id",
  NoSuchEpoch: "no round of this epoch has closed yet",
  UpgradeRequired: "the validators' session is a WebSocket: open it with Upgrade: websocket",
  SlashRefused: "the chain refused the slash transaction (details: revertReason, transactionHash)",
  NotFound: "no such route (the test clock exists only when TEST_CLOCK is \"true\")",
  // Finance: the payment webhook (signed like Stripe's) and the finance role's routes
  MalformedSignatureHeader: "the ICN-Signature header is missing or not 't=<unix seconds>,v1=<hex HMAC-SHA256>'; nothing was recorded",
  SignatureTimestampOutOfRange: "the signature's t= is further from the edge's clock than the tolerance (FINANCE_WEBHOOK_TOLERANCE_SECONDS, 300 by default); nothing was recorded",
  WebhookNotConfigured: "FINANCE_WEBHOOK_SECRET is not set: the edge accepts no payment events",
  UnknownAccount: "data.accountId (or a statement row's account_id) names no customer account; nothing was recorded",
  UnsupportedCurrency: `the currency is not one payments are accepted in (${PAYMENT_CURRENCIES.join(", ")}); nothing was recorded`,
  InvalidAmount: "the amount is not a positive number of minor units within the edge's cap (10^15)",
  NoSuchPayment: "the refund names no recorded payment",
  PaymentMismatch: "the refund names a payment of another account or currency",
  RefundExceedsPayment: "the refund is more than what is left of the payment (details: amountMinor, refundedMinor, remainingMinor); nothing was recorded",
  PaymentAlreadyRecorded: "another event (or bank reference) already recorded this payment id with other content",
  EventIdConflict: "the event id was recorded before with other content (a redelivery of the same event answers 200 with duplicate: true)",
  InvalidStatement: "the bank statement cannot be read (CSV syntax, missing header columns, too many rows); no row was applied",
  PriceSheetVersionTaken: "the version is not the next one (details.expectedVersion)",
  PriceSheetNotEffective: "the sheet would take effect in the past or before the newest version (details.notBefore)",
  NoSuchPeriod: "nothing was recorded under that period id and it is not the period open now",
  SettlementBusy: "a settlement run holds the lease; try again when it ends",
  StaleSignature: "issuedAt is further from the edge's clock than the link window (600 s either way); sign a new link",
  AccountHasWallet: "the account already has a wallet linked; unlink it first",
  WalletLinkedElsewhere: "the wallet is linked to another account",
  NoWalletLinked: "the account has no wallet linked",
  PeriodNotClosed: "the close step failed (its error is in the message and on the step); the next settlement run tries again",
} as const satisfies Record<string, string>;

export type ApiErrorCode = keyof typeof ERROR_MEANINGS;

/** The codes a route may answer, by HTTP status. */
type ErrorAnswers = Readonly<Partial<Record<number, readonly ApiErrorCode[]>>>;

const SIGV4_FAILURES: readonly ApiErrorCode[] = ["AccessDenied", "AuthorizationHeaderMalformed", "InvalidAccessKeyId", "RequestTimeTooSkewed", "SignatureDoesNotMatch"];

/** A JSON body read with the cap and validated with zod (src/api/guards/json-body.ts). */
const JSON_BODY: ErrorAnswers = { 400: ["InvalidJson", "ValidationError"], 413: ["PayloadTooLarge"] };
/** Every admin route: the bearer token is checked before anything else. */
const ADMIN: ErrorAnswers = { 401: ["Unauthorized"] };
/** A SigV4-signed call over its whole body, counted against the caller's rate limit (src/api/guards/signed-body.ts). */
const SIGNED_CALL: ErrorAnswers = { 400: ["XAmzContentSHA256Mismatch"], 403: SIGV4_FAILURES, 413: ["PayloadTooLarge"], 429: ["TooManyRequests"] };
/** A node's call: a signed call to a path whose node id is checked. */
const NODE_CALL: ErrorAnswers = { ...SIGNED_CALL, 400: ["XAmzContentSHA256Mismatch", "ValidationError"] };
/** A KMS call naming a key: the ref is checked before anything is looked up. */
const KMS_REF: ErrorAnswers = { 400: ["ValidationError"] };
const NO_SUCH_NODE: ErrorAnswers = { 400: ["ValidationError"], 404: ["NoSuchNode"] };
const TEST_CLOCK_ONLY: ErrorAnswers = { 404: ["NotFound"] };

const retryAfter = {
  "Retry-After": { description: "Seconds to wait before trying again (RFC 9110 §10.2.3)", schema: { type: "integer", minimum: 0 } },
};

/** The error responses of a route: the union of `answers`, one response per status listing its codes. */
function errors(...answers: ErrorAnswers[]) {
  const byStatus = new Map<number, Set<ApiErrorCode>>();
  for (const answer of answers) {
    for (const [status, codes] of Object.entries(answer)) {
      const set = byStatus.get(Number(status)) ?? new Set<ApiErrorCode>();
      for (const code of codes ?? []) set.add(code);
      byStatus.set(Number(status), set);
    }
  }
  return Object.fromEntries(
    [...byStatus]
      .sort(([a], [b]) => a - b)
      .map(([status, set]) => {
        const codes = [...set];
        return [
          String(status),
          {
            description: codes.map((code) => `- \`${code}\`: ${ERROR_MEANINGS[code]}`).join("\n"),
            ...(status === 429 ? { headers: retryAfter } : {}),
            content: { "application/json": { schema: { allOf: [errorRef, { type: "object", properties: { code: { enum: codes } } }] } } },
          },
        ];
      }),
  );
}

const admin = [{ adminToken: [] }];
const finance = [{ financeToken: [] }];
const webhookSigned = [{ webhookSignature: [] }];
/** Every finance-role route: the finance bearer token is checked before anything else. */
const FINANCE: ErrorAnswers = { 401: ["Unauthorized"] };
/** Query parameters, from the zod schema the handler parses them with (a bad one is 400 ValidationError). */
function queryParams(schema: z.ZodObject) {
  const json = z.toJSONSchema(schema, { io: "input" }) as { properties: Record<string, { description?: string }>; required?: string[] };
  return Object.entries(json.properties).map(([name, property]) => ({ name, in: "query", required: (json.required ?? []).includes(name), schema: property }));
}
const QUERY: ErrorAnswers = { 400: ["ValidationError"] };
const csvOr = (description: string, schema: unknown) => ({
  description: `${description}; with format=csv the same as RFC 4180 CSV (header line, CRLF), the next page's cursor in the ICN-Next-Cursor header`,
  content: { "application/json": { schema }, "text/csv": { schema: { type: "string" } } },
});
const amount = { type: "string", pattern: "^(0|[1-9][0-9]*)$", description: "decimal integer of base units (USD cents, USDC 6 decimals, ICNT 18 decimals)" };
const signedAmount = { type: "string", pattern: "^-?(0|[1-9][0-9]*)$", description: "debits - credits, decimal base units" };
const trialBalanceSchema = object({
  periodId: { type: ["string", "null"] },
  balanced: { type: "boolean", description: "every currency's debits equal its credits" },
  currencies: { type: "array", items: object({ currency: string, debits: amount, credits: amount }) },
  accounts: { type: "array", items: object({ account: string, subaccount: string, currency: string, debits: amount, credits: amount, balance: signedAmount }) },
});
const priceSheetSchema = object({
  version: integer,
  currency: { type: "string", enum: [...PAYMENT_CURRENCIES] },
  effectiveFrom: { type: "string", format: "date-time" },
  storagePerTbMonth: { ...amount, description: "micro-units (10^-6) of the currency per TB-month (10^12 bytes × 720 hours)" },
  egressPerTb: { ...amount, description: "micro-units per TB (10^12 bytes) sent" },
  classAPerMillion: { ...amount, description: "micro-units per million class A requests (writes, lists)" },
  classBPerMillion: { ...amount, description: "micro-units per million class B requests (reads)" },
});
const invoiceProperties = {
  periodId: string,
  currency: { type: "string", enum: [...PAYMENT_CURRENCIES] },
  priceSheetVersion: integer,
  closedAt: { type: "string", format: "date-time", description: "the instant the period's usage was taken up to" },
  totalMinor: { ...amount, description: "the sum of the lines, in minor units of the currency (USD cents)" },
  lines: {
    type: "array",
    items: object({
      item: { type: "string", enum: ["storage", "egress", "class_a_requests", "class_b_requests"] },
      quantity: { ...amount, description: "what was used, in quantityUnit" },
      quantityUnit: { type: "string", description: "byte-hours, bytes or requests" },
      unitPriceMicros: { ...amount, description: "the price sheet's price: micro-units (10^-6) of the currency per priceUnit" },
      priceUnit: { type: "string", enum: ["TB-month", "TB", "million requests"] },
      amountMinor: { ...amount, description: "quantity × price in minor units, rounded half up once" },
    }),
  },
};
const node = [{ nodeSigV4: [] }];
const tenant = [{ accountSigV4: [] }];
const anonymous: never[] = [];

const pathParam = (name: string, schema: unknown, description?: string) => ({ name, in: "path", required: true, ...(description ? { description } : {}), schema });
const keyRef = [
  pathParam(
    "ref",
    string,
    "A key id, an alias (alias/name) or a key or alias ARN, written as is: slashes stay, nothing is percent-encoded (with curl, which signs the path as typed, write an ARN's ':' as %3A).",
  ),
];

const attestationSchema = object(
  { validator: string, operator: string, stake: string, verdict: { type: "string", enum: ["pass", "fail"] }, evidenceHash: string, signature: string, reason: string },
  ["validator", "operator", "stake", "verdict", "evidenceHash", "signature"],
);
const roundSchema = object({
  id: integer,
  epoch: integer,
  state: { type: "string", enum: ["open", "closed"] },
  commitment: string,
  commitTx: { type: ["string", "null"] },
  commitBlock: { type: ["integer", "null"] },
  seedBlock: { type: ["integer", "null"] },
  seed: { type: ["string", "null"] },
  challenges: {
    type: "array",
    items: object({
      nodeId: string,
      pieceId: { type: "string", description: "Opaque: SHA-256 of the node and blob ids, revealing neither bucket nor object" },
      merkleRoot: string,
      leafCount: integer,
      leafIndexes: { type: "array", items: integer },
      deadline: { type: ["integer", "null"] },
      assignmentSignature: { type: ["string", "null"] },
      verdict: { type: "string", enum: ["pass", "fail", "undecided"] },
      attestations: { type: "array", items: attestationSchema, description: "Empty until the round closes" },
      missed: { type: "array", items: string },
    }),
  },
});

export function openApiDocument() {
  const nodeIdParam = (name: string) => [pathParam(name, z.toJSONSchema(nodeIdSchema))];
  const accountId = [pathParam("id", string, "The account id (acc_…)")];
  const accessKeyIdParam = [pathParam("id", string, "The access key id")];
  const operatorAddress = [pathParam("address", { type: "string", pattern: "^0x[0-9a-fA-F]{40}$" }, "The operator's wallet address")];
  const clockView = { $ref: "#/components/schemas/Clock" };
  return {
    openapi: "3.1.0",
    info: {
      title: "ICN Edge control API",
      version: "1",
      description: [
        "Every failure is JSON `{code, message, details?}` with a stable `code`; a path under /api/v1 that no route claims answers `404 NotFound`, whatever the method (it never reaches the S3 surface).",
        `Every request body is read with a hard cap: ${MAX_CONTROL_BODY_BYTES / 1024} KiB, or 4 MiB for a scrub report whose node declared the body's SHA-256 in x-amz-content-sha256 (the signature over it is checked before the body is read). A larger body is \`413 PayloadTooLarge\`, refused as soon as its Content-Length or its bytes cross the cap.`,
        `Callers are rate limited per ${RATE_LIMIT_PERIOD_S} seconds (wrangler.toml, [[ratelimits]]): registration per client IP, node calls per node and KMS calls per access key (the last two once the signature verified). Over the limit is \`429 TooManyRequests\` with Retry-After.`,
      ].join("\n\n"),
    },
    servers: [{ url: "/api/v1" }],
    components: {
      securitySchemes: {
        adminToken: { type: "http", scheme: "bearer", description: "The Worker's ADMIN_TOKEN secret." },
        financeToken: { type: "http", scheme: "bearer", description: "The Worker's FINANCE_TOKEN secret: the finance role, separate from the admin token." },
        webhookSignature: {
          type: "apiKey",
          in: "header",
          name: "ICN-Signature",
          description:
            "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\" under FINANCE_WEBHOOK_SECRET>, as Stripe signs its events. Several v1= are accepted (secret rotation: FINANCE_WEBHOOK_SECRET=\"new,old\"), compared in constant time over the raw body bytes before anything is parsed.",
        },
        nodeSigV4: {
          type: "apiKey",
          in: "header",
          name: "Authorization",
          description: "AWS SigV4 with the node's credentials, region 'icn', service 'icn'; the body is signed (node-agents declare its hash in x-amz-content-sha256).",
        },
        accountSigV4: {
          type: "apiKey",
          in: "header",
          name: "Authorization",
          description:
            "AWS SigV4 with one of the account's unrestricted S3 access keys (a scoped key is refused: 403 AccessDenied), service 'kms' for /kms and 'iam' for /access-keys and /access-audit, any region the edge accepts; the body is signed. " +
            `e.g. curl --aws-sigv4 "aws:amz:us-east-1:kms" --user AKID:SECRET -H 'content-type: application/json' -d '{"alias":"alias/backups"}' https://<edge>/api/v1/kms/keys`,
        },
      },
      schemas: {
        Error: { type: "object", required: ["code", "message"], properties: { code: string, message: string, details: {} } },
        RegistrationDomain: z.toJSONSchema(registrationDomainInfoSchema),
        RegistrationRequest: z.toJSONSchema(registrationRequestSchema),
        RegistrationResponse: {
          ...object({
            nodeId: string,
            accessKeyId: string,
            secretAccessKey: { type: "string", description: "Shown only in this response" },
            region: { type: "string", const: "icn" },
            heartbeatIntervalSeconds: { type: "number" },
            offlineAfterSeconds: { type: "number" },
          }),
          description: "The node's SigV4 credentials for all edge<->node traffic.",
        },
        Heartbeat: z.toJSONSchema(heartbeatSchema),
        ScrubReport: z.toJSONSchema(scrubReportSchema),
        ScrubReportResult: object({
          ok: okTrue,
          faultsRecorded: { type: "integer", description: "Findings on blobs the edge placed on this node: the repair chore fixes them" },
          ignored: { type: "integer", description: "Findings on blobs the edge never placed on this node" },
        }),
        Clock: object({
          now: { type: "string", format: "date-time", description: "The edge's time: real time plus the offset" },
          offsetSeconds: { type: "number" },
        }),
        AccessKey: {
          type: "object",
          description: "An S3 access key of the account, without its secret.",
          required: ["accessKeyId", "name", "status", "scope", "expiresAt", "createdAt", "createdBy", "revokedAt"],
          properties: {
            accessKeyId: string,
            name: { type: ["string", "null"] },
            status: { type: "string", enum: ["active", "inactive", "expired", "revoked"] },
            scope: { anyOf: [{ type: "null", description: "an unrestricted key" }, z.toJSONSchema(keyScopeSchema, { io: "output" })] },
            expiresAt: { type: ["string", "null"], format: "date-time" },
            createdAt: { type: "string", format: "date-time" },
            createdBy: { type: ["string", "null"], description: "the access key that minted it; null when the edge admin did" },
            revokedAt: { type: ["string", "null"], format: "date-time" },
          },
        },
        AccessAuditEntry: {
          type: "object",
          description: "One change of access control (src/db/access-audit.ts).",
          required: ["id", "at", "actor", "action", "target", "before", "after", "requestId"],
          properties: {
            id: { type: "string", description: "increasing; pass the last as after= for newer entries" },
            at: { type: "string", format: "date-time" },
            actor: { anyOf: [{ type: "null", description: "the edge admin" }, object({ accountId: string, accessKeyId: string })] },
            action: { type: "string", description: "CreateAccessKey, RevokeAccessKey, CreateBucket, PutBucketAcl, PutBucketEncryption, DeleteBucketEncryption, ..." },
            target: { type: "string", description: "access-key/<id>, arn:aws:s3:::<bucket>, arn:aws:s3:::<bucket>/<key>, a KMS key ARN" },
            before: { description: "what was in force before (JSON), null where nothing was" },
            after: { description: "what is in force after (JSON), null where nothing is" },
            requestId: { type: ["string", "null"], description: "the S3 request id (x-amz-request-id) of a change made over S3" },
          },
        },
        KmsKey: {
          type: "object",
          description: "A KMS key's metadata; the key material never leaves the edge.",
          required: ["keyId", "arn", "accountId", "description", "state", "createdAt"],
          properties: {
            keyId: { type: "string", format: "uuid" },
            arn: { type: "string", description: "arn:aws:kms:<region>:<accountId>:key/<keyId>" },
            accountId: string,
            alias: string,
            aliasArn: string,
            description: string,
            state: { type: "string", enum: ["Enabled", "Disabled", "PendingDeletion"] },
            deletionDate: { type: "integer", description: "ms since the epoch; only while PendingDeletion" },
            createdAt: { type: "integer", description: "ms since the epoch" },
          },
        },
      },
    },
    paths: {
      "/openapi.json": {
        get: { summary: "This document", security: anonymous, responses: { "200": ok("The OpenAPI 3.1 document", { type: "object" }) } },
      },

      // ---- Nodes
      "/nodes/registration-domain": {
        get: {
          summary: "The EIP-712 domain a registration with this edge is signed for: the chain id and this edge's id (its salt binds a signature to this edge)",
          security: anonymous,
          responses: { "200": ok("The edge id and chain id", { $ref: "#/components/schemas/RegistrationDomain" }), ...errors({ 503: ["EdgeIdNotConfigured"] }) },
        },
      },
      "/nodes/register": {
        post: {
          summary:
            "Register (or re-register) a node; the operator's wallet signs an EIP-712 NodeRegistration message for this edge's domain (GET /nodes/registration-domain), and with a chain configured the operator's NodeStaking stake for the node must cover its capacity",
          security: anonymous,
          requestBody: json({ $ref: "#/components/schemas/RegistrationRequest" }),
          responses: {
            "200": ok("The node's SigV4 credentials (secret shown once)", { $ref: "#/components/schemas/RegistrationResponse" }),
            ...errors(
              JSON_BODY,
              { 400: ["SignatureExpired", "ExpiryTooFar", "InvalidNodeUrl", "InvalidSignature"], 401: ["WrongSigner"] },
              { 403: ["UnknownOperator", "OperatorNotApproved", "StakeOperatorMismatch", "InsufficientStake"], 409: ["NodeIdTaken", "NonceReplayed"] },
              { 429: ["TooManyRequests"], 503: ["EdgeIdNotConfigured", "ChainUnavailable"] },
            ),
          },
        },
      },
      "/nodes/{nodeId}/heartbeat": {
        post: {
          summary: "Report disk usage and health; a node whose stake no longer covers its capacity is suspended",
          security: node,
          parameters: nodeIdParam("nodeId"),
          requestBody: json({ $ref: "#/components/schemas/Heartbeat" }),
          responses: {
            "200": ok(
              "The node's status and audit standing",
              object({ ok: okTrue, status: { type: "string", enum: [...NODE_STATUSES] }, standing: { type: "string", enum: [...NODE_STANDINGS] } }),
            ),
            ...errors(NODE_CALL, JSON_BODY),
          },
        },
      },
      "/validators/domain": {
        get: {
          summary: "The EIP-712 domain and keys to re-verify every assignment, attestation and login: the edge's assignment signer, AuditLog and NodeStaking addresses, the chain, and the blocks between a round's commitment and its seed block",
          security: anonymous,
          responses: {
            "200": ok(
              "The audit domain",
              object({
                domain: object({ name: string, version: string, chainId: integer, salt: string }),
                assignmentSigner: string,
                auditLog: string,
                nodeStaking: string,
                chainId: integer,
                seedDelayBlocks: integer,
              }),
            ),
            ...errors({ 503: ["ChainNotConfigured"] }),
          },
        },
      },
      "/validators/rounds": {
        get: {
          summary: "The most recent challenge rounds, newest first (see /validators/rounds/{roundId})",
          security: anonymous,
          parameters: [{ name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: 100, default: 20 } }],
          responses: { "200": ok("The rounds", object({ rounds: { type: "array", items: roundSchema } })), ...errors({ 400: ["ValidationError"] }) },
        },
      },
      "/validators/rounds/{roundId}": {
        get: {
          summary: "One challenge round's public record: its on-chain commitment, seed block and seed, each challenge with its signed assignment, and once closed its verdict and every attestation",
          security: anonymous,
          parameters: [pathParam("roundId", { type: "integer", minimum: 1 })],
          responses: { "200": ok("The round", roundSchema), ...errors({ 400: ["ValidationError"], 404: ["NoSuchRound"] }) },
        },
      },
      "/validators/epochs/{epoch}": {
        get: {
          summary: "An epoch's verdict leaves in order, their Merkle root and the transaction that anchored it in AuditLog",
          security: anonymous,
          parameters: [pathParam("epoch", { type: "integer", minimum: 1 })],
          responses: {
            "200": ok("The epoch", object({ epoch: integer, root: { type: ["string", "null"] }, rounds: integer, anchorTx: { type: ["string", "null"] }, leaves: { type: "array", items: string } })),
            ...errors({ 400: ["ValidationError"], 404: ["NoSuchEpoch"] }),
          },
        },
      },
      "/validators/session": {
        get: {
          summary: "A validator's WebSocket to the challenge coordinator: hello {nonce}, login (EIP-712 ValidatorLogin by its operational key), then assignments and attestations (src/protocol/validator-session.ts)",
          security: anonymous,
          responses: { "101": { description: "Switching to the WebSocket" }, ...errors({ 426: ["UpgradeRequired"] }) },
        },
      },
      "/nodes/{nodeId}/reputation": {
        get: {
          summary: "What audits say about a node: its standing (separate from its operational status), beta-reputation audit and online scores (0..1), and counted audits",
          security: anonymous,
          parameters: nodeIdParam("nodeId"),
          responses: {
            "200": ok(
              "The node's reputation",
              object({
                nodeId: string,
                standing: { type: "string", enum: [...NODE_STANDINGS] },
                auditScore: { type: "number" },
                onlineScore: { type: "number" },
                audits: object({ passed: integer, failed: integer }),
              }),
            ),
            ...errors(NO_SUCH_NODE),
          },
        },
      },
      "/nodes/{nodeId}/usage": {
        get: {
          summary:
            "The node's metered holding by UTC day (whole byte-hours of the bytes the edge placed on it, integrated hourly by the usage-flush chore) and its audit results, for its operator; signed with the node's own credentials",
          security: node,
          parameters: [...nodeIdParam("nodeId"), ...queryParams(usageQuerySchema)],
          responses: {
            "200": ok(
              "The node's usage",
              object({
                nodeId: string,
                from: string,
                to: string,
                usage: { type: "array", items: object({ day: string, heldByteHours: { type: "string", description: "decimal" }, bytesServed: { type: "string", description: "decimal: bytes delivered to the edge for clients' GETs" } }) },
                audits: object({
                  standing: { type: "string", enum: [...NODE_STANDINGS] },
                  auditScore: { type: "number" },
                  passed: integer,
                  failed: integer,
                  timeouts: integer,
                  periods: { type: "array", items: object({ periodId: string, passed: integer, failed: integer }) },
                }),
              }),
            ),
            ...errors(SIGNED_CALL, QUERY, NO_SUCH_NODE),
          },
        },
      },
      "/nodes/{nodeId}/audits": {
        get: {
          summary: "A node's most recent audit outcomes, newest first (piece ids are opaque), so its operator can see what failed and when",
          security: anonymous,
          parameters: [...nodeIdParam("nodeId"), { name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: 1000, default: 100 } }],
          responses: {
            "200": ok(
              "The outcomes",
              object({
                nodeId: string,
                audits: {
                  type: "array",
                  items: object({
                    roundId: string,
                    pieceId: string,
                    outcome: { type: "string", enum: ["pass", "fail", "timeout"] },
                    counted: { type: "string", enum: ["pass", "fail", "contained"], description: "A timeout under containment counts as neither until the piece is challenged again" },
                    auditScore: { type: "number" },
                    standing: { type: "string", enum: [...NODE_STANDINGS] },
                    at: { type: "integer", description: "ms since the epoch" },
                  }),
                },
              }),
            ),
            ...errors(NO_SUCH_NODE),
          },
        },
      },
      "/nodes/{nodeId}/offline": {
        post: {
          summary: "The node is shutting down: it gets no new data",
          security: node,
          parameters: nodeIdParam("nodeId"),
          responses: { "200": ok("ok", object({ ok: okTrue })), ...errors(NODE_CALL) },
        },
      },
      "/nodes/{nodeId}/scrub-report": {
        post: {
          summary:
            `The findings of a scrub pass: corrupt and missing blobs become faults the repair chore fixes. Only blobs the edge placed on this node count; at most ${MAX_SCRUB_FINDINGS_PER_REPORT} findings per list, ` +
            `a 4 MiB body when x-amz-content-sha256 is declared (${MAX_CONTROL_BODY_BYTES / 1024} KiB otherwise), and ${SCRUB_REPORTS_PER_WINDOW} reports per node per ${SCRUB_REPORT_WINDOW_MS / 60_000} minutes`,
          security: node,
          parameters: nodeIdParam("nodeId"),
          requestBody: json({ $ref: "#/components/schemas/ScrubReport" }),
          responses: { "200": ok("What was recorded", { $ref: "#/components/schemas/ScrubReportResult" }), ...errors(NODE_CALL, JSON_BODY, { 429: ["SlowDown"] }) },
        },
      },

      // ---- KMS (tenants)
      "/usage": {
        get: {
          summary:
            "The account's usage by bucket and UTC day, as flushed to D1 at least hourly (the last hour may be missing): whole byte-hours stored (object sizes as clients see them, noncurrent versions and parts of uploads in progress included), bytes in and out, class A (writes, lists) and class B (reads) requests. Signed like an S3 request (SigV4 with the account's access key, service 's3'), e.g. curl --aws-sigv4 \"aws:amz:us-east-1:s3\" --user AKID:SECRET 'https://<edge>/api/v1/usage?from=2026-12-01&to=2026-12-31'",
          security: tenant,
          parameters: queryParams(usageQuerySchema),
          responses: {
            "200": ok(
              "The usage, one entry per bucket and day with any",
              object({
                accountId: string,
                from: string,
                to: string,
                usage: {
                  type: "array",
                  items: object({
                    bucket: string,
                    day: string,
                    storageByteHours: { type: "string", description: "decimal" },
                    bytesIn: { type: "string", description: "decimal" },
                    bytesOut: { type: "string", description: "decimal" },
                    classARequests: { type: "string", description: "decimal" },
                    classBRequests: { type: "string", description: "decimal" },
                  }),
                },
              }),
            ),
            ...errors(SIGNED_CALL, QUERY),
          },
        },
      },
      "/invoices": {
        get: {
          summary:
            "The account's own invoices, one per closed period with something to pay, oldest first, with their lines and totals. Signed like GET /usage (SigV4 with the account's access key, service 's3')",
          security: tenant,
          parameters: queryParams(customerInvoicesQuerySchema),
          responses: {
            "200": ok(
              "A page of the account's invoices",
              object({ accountId: string, invoices: { type: "array", items: object(invoiceProperties) }, next: { type: ["string", "null"], description: "pass as after= for the next page" } }),
            ),
            ...errors(SIGNED_CALL, QUERY),
          },
        },
      },
      "/kms/keys": {
        get: { summary: "List the account's KMS keys", security: tenant, responses: { "200": ok("the keys", object({ keys: { type: "array", items: kmsKey } })), ...errors(SIGNED_CALL) } },
        post: {
          summary: "Create a KMS key (AES-256, Enabled) for SSE-KMS",
          security: tenant,
          requestBody: json(z.toJSONSchema(createKmsKeyRequestSchema)),
          responses: { "201": ok("the key", kmsKey), ...errors(SIGNED_CALL, JSON_BODY, { 409: ["AliasTaken"] }) },
        },
      },
      "/kms/keys/{ref}": {
        get: { summary: "Describe a KMS key of the account", security: tenant, parameters: keyRef, responses: { "200": ok("the key", kmsKey), ...errors(SIGNED_CALL, KMS_REF, { 404: ["NoSuchKmsKey"] }) } },
      },
      "/kms/keys/{ref}/disable": {
        post: {
          summary: "Disable the key: SSE-KMS reads and writes with it fail until it is enabled",
          security: tenant,
          parameters: keyRef,
          responses: { "200": ok("the key", kmsKey), ...errors(SIGNED_CALL, KMS_REF, { 404: ["NoSuchKmsKey"], 409: ["KmsKeyInvalidState"] }) },
        },
      },
      "/kms/keys/{ref}/enable": {
        post: {
          summary: "Enable a disabled key",
          security: tenant,
          parameters: keyRef,
          responses: { "200": ok("the key", kmsKey), ...errors(SIGNED_CALL, KMS_REF, { 404: ["NoSuchKmsKey"], 409: ["KmsKeyInvalidState"] }) },
        },
      },
      "/kms/keys/{ref}/schedule-deletion": {
        post: {
          summary: "Schedule the key's destruction after 7-30 days (default 30); it is unusable meanwhile. Destruction is final: objects under the key become unreadable. Refused (409 ObjectLockRetention) while Object Lock protects a version under the key",
          security: tenant,
          parameters: keyRef,
          requestBody: json(z.toJSONSchema(scheduleKmsKeyDeletionRequestSchema, { io: "input" })),
          responses: { "200": ok("the key, PendingDeletion with its deletionDate", kmsKey), ...errors(SIGNED_CALL, KMS_REF, JSON_BODY, { 404: ["NoSuchKmsKey"], 409: ["KmsKeyInvalidState", "ObjectLockRetention"] }) },
        },
      },
      "/kms/keys/{ref}/cancel-deletion": {
        post: {
          summary: "Cancel a scheduled deletion; the key comes back Disabled",
          security: tenant,
          parameters: keyRef,
          responses: { "200": ok("the key", kmsKey), ...errors(SIGNED_CALL, KMS_REF, { 404: ["NoSuchKmsKey"], 409: ["KmsKeyInvalidState"] }) },
        },
      },
      "/kms/keys/{ref}/alias": {
        put: {
          summary: "Give the key an alias (alias/name, unique in the account), replacing its old one",
          security: tenant,
          parameters: keyRef,
          requestBody: json(z.toJSONSchema(setKmsKeyAliasRequestSchema)),
          responses: { "200": ok("the key", kmsKey), ...errors(SIGNED_CALL, KMS_REF, JSON_BODY, { 404: ["NoSuchKmsKey"], 409: ["AliasTaken", "KmsKeyInvalidState"] }) },
        },
        delete: { summary: "Remove the key's alias", security: tenant, parameters: keyRef, responses: { "200": ok("the key", kmsKey), ...errors(SIGNED_CALL, KMS_REF, { 404: ["NoSuchKmsKey"] }) } },
      },

      // ---- Access keys and the access audit log (tenants, unrestricted keys only)
      "/access-keys": {
        get: { summary: "List the account's access keys (every status; never a secret)", security: tenant, responses: { "200": ok("the keys", object({ keys: { type: "array", items: accessKey } })), ...errors(SIGNED_CALL) } },
        post: {
          summary:
            "Mint an access key: unrestricted, or scoped to buckets or bucket/prefix pairs (permission read-only or read-write, as R2's object tokens), with an optional expiry. The secret is in this answer only",
          security: tenant,
          requestBody: json(z.toJSONSchema(createAccessKeyRequestSchema, { io: "input" })),
          responses: { "201": ok("the key and its secret", { allOf: [accessKey, object({ accountId: string, secretAccessKey: string })] }), ...errors(SIGNED_CALL, JSON_BODY) },
        },
      },
      "/access-keys/{id}": {
        get: { summary: "Describe one of the account's access keys", security: tenant, parameters: accessKeyIdParam, responses: { "200": ok("the key", accessKey), ...errors(SIGNED_CALL, QUERY, { 404: ["NoSuchAccessKey"] }) } },
        delete: {
          summary:
            "Revoke an access key for good: a scoped key is refused from its next request in every isolate; an unrestricted one at once in this isolate and within 30 s elsewhere. Revoking a revoked key changes nothing",
          security: tenant,
          parameters: accessKeyIdParam,
          responses: { "200": ok("the revoked key", accessKey), ...errors(SIGNED_CALL, QUERY, { 404: ["NoSuchAccessKey"], 409: ["LastUnrestrictedKey"] }) },
        },
      },
      "/access-audit": {
        get: {
          summary: "The account's access-control audit log, oldest first: key creations and revocations, bucket ACLs, bucket encryption, ... with what was in force before and after",
          security: tenant,
          parameters: queryParams(accessAuditQuerySchema),
          responses: {
            "200": ok("a page of entries", object({ entries: { type: "array", items: { $ref: "#/components/schemas/AccessAuditEntry" } }, next: { type: ["string", "null"], description: "pass as after= for the next page" } })),
            ...errors(SIGNED_CALL, QUERY),
          },
        },
      },

      // ---- Prepaid ICNT (issue 17): the account's wallet and its ServiceEscrow balance
      "/account/wallet": {
        get: {
          summary: "The account's linked wallet and its ServiceEscrow balance and pending withdrawal (ICNT base units, decimal strings); wallet null when none is linked",
          security: tenant,
          responses: { "200": ok("the wallet", accountWallet), ...errors(SIGNED_CALL, { 503: ["ChainUnavailable"] }) },
        },
        post: {
          summary:
            "Link a wallet by proving control of it: an EIP-712 LinkWallet(string accountId,address wallet,uint256 issuedAt) signature by the wallet, domain { name: 'ICN Edge', version: '1', chainId, verifyingContract: the ServiceEscrow } (src/protocol/wallet-link.ts), issuedAt within 600 s of the edge's clock. One wallet per account, a wallet to one account. Settlement then draws each period's invoice from the wallet's escrow balance; what it cannot cover is invoiced in fiat",
          security: tenant,
          requestBody: json(z.toJSONSchema(linkWalletRequestSchema, { io: "input" })),
          responses: {
            "201": ok("the linked wallet", accountWallet),
            ...errors(SIGNED_CALL, JSON_BODY, { 400: ["StaleSignature"], 401: ["InvalidSignature"], 409: ["AccountHasWallet", "WalletLinkedElsewhere"], 503: ["ChainNotConfigured", "ChainUnavailable"] }),
          },
        },
        delete: {
          summary: "Unlink the wallet at once: from the next settlement on the account's invoices are paid in fiat; the ICNT in the escrow stays the wallet's to withdraw",
          security: tenant,
          responses: { "200": ok("the wallet unlinked", object({ accountId: string, unlinked: string })), ...errors(SIGNED_CALL, { 404: ["NoWalletLinked"] }) },
        },
      },

      // ---- Finance (issue 17): the payment webhook (signed) and the finance role (bearer FINANCE_TOKEN)
      "/finance/payments/webhook": {
        post: {
          summary:
            `A payment provider's event: payment.succeeded credits the account (ledger: debit cash, credit receivables:<account>), payment.refunded debits it back against the payment it names, never beyond what is left of it. The body is at most ${WEBHOOK_MAX_BODY_BYTES / 1024} KiB. The event id is recorded in the same D1 batch as the entry: a redelivery answers 200 with duplicate: true and changes nothing`,
          security: webhookSigned,
          parameters: [{ name: "ICN-Signature", in: "header", required: true, schema: string }],
          requestBody: json(z.toJSONSchema(paymentWebhookEventSchema, { io: "input" })),
          responses: {
            "200": ok("Applied, or already applied", object({ received: okTrue, eventId: string, duplicate: { type: "boolean" }, paymentId: string, entryKey: string })),
            ...errors(JSON_BODY, {
              401: ["MalformedSignatureHeader", "SignatureTimestampOutOfRange", "SignatureDoesNotMatch"],
              409: ["PaymentAlreadyRecorded", "EventIdConflict"],
              413: ["PayloadTooLarge"],
              422: ["UnknownAccount", "UnsupportedCurrency", "InvalidAmount", "NoSuchPayment", "PaymentMismatch", "RefundExceedsPayment"],
              503: ["WebhookNotConfigured"],
            }),
          },
        },
      },
      "/finance/claims/{address}": {
        get: {
          summary:
            "Public: an operator's or validator's reward claims on RewardsDistributor, one per posted period, each with its Merkle proof, and `unposted`, the ICNT it has earned that no posted period pays yet. With ?period=ID only that period's { amount, proof }",
          parameters: [pathParam("address", { type: "string", pattern: "^0x[0-9a-fA-F]{40}$" }), { name: "period", in: "query", required: false, schema: string }],
          responses: {
            "200": ok(
              "The claims (or one claim with ?period)",
              object({ address: string, chainId: { type: ["integer", "null"] }, distributor: { type: ["string", "null"] }, unposted: string, claims: { type: "array", items: object({ period: string, chainPeriod: string, amount: string, proof: { type: "array", items: string }, postedIn: string }) } }),
            ),
            ...errors(QUERY, { 404: ["NoSuchClaim"] }),
          },
        },
      },
      "/finance/payments": {
        get: {
          summary: "Payments received (webhook and bank), in receipt order, with what was refunded of each",
          security: finance,
          parameters: queryParams(paymentsQuerySchema),
          responses: {
            "200": csvOr(
              "A page of payments",
              object({
                payments: {
                  type: "array",
                  items: object({ id: string, accountId: string, currency: string, amountMinor: amount, refundedMinor: amount, source: { type: "string", enum: ["webhook", "bank"] }, sourceRef: string, entryKey: string, receivedAt: { type: "string", format: "date-time" } }),
                },
                next: { type: ["string", "null"], description: "pass as after= for the next page" },
              }),
            ),
            ...errors(FINANCE, QUERY),
          },
        },
      },
      "/finance/payments/import": {
        post: {
          summary: `Import a bank statement (CSV, at most ${MAX_IMPORT_ROWS} rows, ${BANK_STATEMENT_MAX_BYTES / 1024} KiB): header columns reference, account_id, amount (major units, e.g. 12.34) or amount_minor, currency, received_at (optional). Each row is applied whole or not at all and at most once per bank reference; errors are reported per row`,
          security: finance,
          requestBody: { content: { "text/csv": { schema: string } } },
          responses: {
            "200": ok(
              "What happened to each row",
              object({
                applied: integer,
                duplicates: integer,
                errors: integer,
                rows: {
                  type: "array",
                  items: object({ line: integer, reference: { type: ["string", "null"] }, status: { type: "string", enum: ["applied", "duplicate", "error"] }, paymentId: string, code: string, message: string }, ["line", "reference", "status"]),
                },
              }),
            ),
            ...errors(FINANCE, { 400: ["InvalidStatement"], 413: ["PayloadTooLarge"] }),
          },
        },
      },
      "/finance/ledger": {
        get: {
          summary: "The journal: entries in key order with their lines (CSV: one row per line)",
          security: finance,
          parameters: queryParams(ledgerQuerySchema),
          responses: {
            "200": csvOr(
              "A page of entries",
              object({
                entries: {
                  type: "array",
                  items: object({
                    key: string,
                    periodId: string,
                    kind: string,
                    memo: string,
                    occurredAt: { type: "string", format: "date-time" },
                    postedAt: { type: "string", format: "date-time" },
                    lines: { type: "array", items: object({ account: string, subaccount: string, currency: string, side: { type: "string", enum: ["debit", "credit"] }, amount }) },
                  }),
                },
                next: { type: ["string", "null"] },
              }),
            ),
            ...errors(FINANCE, QUERY),
          },
        },
      },
      "/finance/ledger/trial-balance": {
        get: {
          summary: "The trial balance of a period (or of the whole ledger): debits and credits per account and per currency; balanced when they are equal in every currency",
          security: finance,
          parameters: queryParams(trialBalanceQuerySchema),
          responses: { "200": csvOr("The trial balance (CSV: a TOTAL row per currency)", trialBalanceSchema), ...errors(FINANCE, QUERY) },
        },
      },
      "/finance/price-sheets": {
        get: {
          summary: "The price sheet in force now (version 0 is the built-in default) and every stored version",
          security: finance,
          responses: { "200": ok("price sheets", object({ current: priceSheetSchema, versions: { type: "array", items: priceSheetSchema } })), ...errors(FINANCE) },
        },
        post: {
          summary: "Publish the next version of the price sheet, effective now or later; versions are never changed",
          security: finance,
          requestBody: json(z.toJSONSchema(publishPriceSheetRequestSchema)),
          responses: { "201": ok("the stored version", priceSheetSchema), ...errors(FINANCE, JSON_BODY, { 409: ["PriceSheetVersionTaken"], 422: ["PriceSheetNotEffective"] }) },
        },
      },

      "/finance/invoices": {
        get: {
          summary:
            "The invoices of closed periods as the settlement's close step priced them, in (period, account) order, one per account and period with something to pay (CSV: one row per invoice line: period_id, account_id, item, quantity, quantity_unit, unit_price_micros, price_unit, amount_minor, currency, price_sheet_version)",
          security: finance,
          parameters: queryParams(financeInvoicesQuerySchema),
          responses: {
            "200": csvOr(
              "A page of invoices",
              object({ invoices: { type: "array", items: object({ ...invoiceProperties, accountId: string }) }, next: { type: ["string", "null"], description: "pass as after= for the next page" } }),
            ),
            ...errors(FINANCE, QUERY),
          },
        },
      },
      "/finance/alerts": {
        get: {
          summary:
            "Alerts for settlement steps that were deferred (e.g. a buyback whose pool price strayed from its TWAP) or failed, in the order they were opened: one per period, step, kind and reason while open (occurrences counts the chore's runs that met it again), resolved once the step succeeds. state=open (the default) or all",
          security: finance,
          parameters: queryParams(alertsQuerySchema),
          responses: {
            "200": csvOr(
              "A page of alerts",
              object({
                alerts: {
                  type: "array",
                  items: object({
                    id: integer,
                    periodId: string,
                    step: string,
                    kind: { type: "string", enum: ["deferred", "failed"] },
                    reason: { type: "string", description: "a stable code, e.g. twap_deviation" },
                    state: { type: "string", enum: ["open", "resolved"] },
                    occurrences: integer,
                    message: string,
                    raisedAt: { type: "string", format: "date-time" },
                    lastSeenAt: { type: "string", format: "date-time" },
                    resolvedAt: { type: ["string", "null"], format: "date-time" },
                  }),
                },
                next: { type: ["string", "null"], description: "pass as after= for the next page" },
              }),
            ),
            ...errors(FINANCE, QUERY),
          },
        },
      },

      // ---- Settlement periods (issue 17): closing on demand (admin token), reports (admin or finance token)
      "/admin/finance/periods/close": {
        post: {
          summary: "Close the period open now without waiting for its end: usage so far is flushed, each account invoiced with the price sheet in force at the period's start, the revenue recognized",
          security: admin,
          responses: { "200": ok("the period closed", object({ periodId: string })), ...errors(ADMIN, { 409: ["SettlementBusy"], 503: ["PeriodNotClosed"] }) },
        },
      },
      "/admin/finance/periods/{id}": {
        get: {
          summary: "A settlement period's report: its state, the revenue recognized, and (once their steps exist) the buyback, payouts and rewards root",
          security: [...admin, ...finance],
          parameters: [pathParam("id", { type: "string", description: "a period id: 2026-12, or 2026-12-01T12:05Z with FINANCE_PERIOD_MINUTES" })],
          responses: {
            "200": ok(
              "the period",
              object({
                id: string,
                state: { type: "string", enum: ["open", "closed", "settled", "deferred"] },
                revenueMinor: amount,
                currency: { type: ["string", "null"] },
                invoices: integer,
                closedAt: { type: ["string", "null"], format: "date-time" },
                buyback: { type: ["object", "null"], properties: { stableIn: amount, icntOut: amount, txHash: string } },
                payouts: { type: "array", items: object({ account: string, amount }) },
                rewardsRoot: { type: ["string", "null"] },
                rewardsTxHash: { type: ["string", "null"] },
              }),
            ),
            ...errors(ADMIN, QUERY, { 404: ["NoSuchPeriod"] }),
          },
        },
      },
      "/admin/finance/periods/{id}/trial-balance": {
        get: {
          summary: "The trial balance of one period: debits and credits per account and per currency; balanced when they are equal in every currency",
          security: [...admin, ...finance],
          parameters: [pathParam("id", { type: "string" })],
          responses: { "200": ok("the trial balance", trialBalanceSchema), ...errors(ADMIN, QUERY, { 404: ["NoSuchPeriod"] }) },
        },
      },

      // ---- Admin (bearer ADMIN_TOKEN)
      "/admin/operators": { get: { summary: "List operators", security: admin, responses: { "200": ok("operators"), ...errors(ADMIN) } } },
      "/admin/operators/{address}": {
        put: {
          summary: "Create an operator or set its status",
          security: admin,
          parameters: operatorAddress,
          requestBody: json(object({ status: { type: "string", enum: [...OPERATOR_STATUSES] }, name: { type: "string", maxLength: 128 } }, ["status"])),
          responses: { "200": ok("the operator"), ...errors(ADMIN, JSON_BODY) },
        },
      },
      "/admin/accounts": {
        get: { summary: "List accounts", security: admin, responses: { "200": ok("accounts"), ...errors(ADMIN) } },
        post: {
          summary: "Create an account",
          security: admin,
          requestBody: json(object({ name: { type: "string", minLength: 1, maxLength: 128 } })),
          responses: { "201": ok("the account"), ...errors(ADMIN, JSON_BODY) },
        },
      },
      "/admin/accounts/{id}": {
        delete: {
          summary:
            "Delete an account and crypto-erase everything it stored: its KMS keys and bucket keys are destroyed and each bucket's index erased; blobs left on nodes can no longer be decrypted and the orphan sweep removes them. Refused (409 ObjectLockRetention) while Object Lock protects any of its versions",
          security: admin,
          parameters: accountId,
          responses: {
            "200": ok("What was destroyed", object({ accountId: string, kmsKeysDestroyed: integer, bucketsErased: integer, accessKeysRevoked: integer })),
            ...errors(ADMIN, { 404: ["NoSuchAccount"], 409: ["ObjectLockRetention"] }),
          },
        },
      },
      "/admin/accounts/{id}/keys": {
        get: { summary: "List an account's access keys with their scopes, expiry and status (never a secret)", security: admin, parameters: accountId, responses: { "200": ok("keys"), ...errors(ADMIN, { 404: ["NoSuchAccount"] }) } },
        post: {
          summary: "Create an access key; the secret is returned once",
          security: admin,
          parameters: accountId,
          responses: { "201": ok("the key pair", object({ accountId: string, accessKeyId: string, secretAccessKey: string })), ...errors(ADMIN, { 404: ["NoSuchAccount"] }) },
        },
      },
      "/admin/nodes": { get: { summary: "List nodes with their state (no secrets) and whether each is heard from (live)", security: admin, responses: { "200": ok("nodes"), ...errors(ADMIN) } } },
      "/admin/nodes/{id}": {
        put: {
          summary: "Set a node's status",
          security: admin,
          parameters: nodeIdParam("id"),
          requestBody: json(object({ status: { type: "string", enum: [...NODE_STATUSES] } })),
          responses: { "200": ok("the node"), ...errors(ADMIN, JSON_BODY, NO_SUCH_NODE) },
        },
      },
      "/admin/nodes/{id}/slash": {
        post: {
          summary: "Slash the node's stake with the protocol key (ICNT to the treasury); suspends the node if it falls below its minimum",
          security: admin,
          parameters: nodeIdParam("id"),
          requestBody: json(z.toJSONSchema(slashRequestSchema)),
          responses: {
            "200": ok("the transaction and the stake left", object({ nodeId: string, transactionHash: string, bonded: string, required: string, status: string }, ["nodeId", "transactionHash", "status"])),
            ...errors(ADMIN, JSON_BODY, NO_SUCH_NODE, { 422: ["SlashRefused"], 503: ["ChainNotConfigured", "ChainUnavailable"] }),
          },
        },
      },
      "/admin/nodes/{id}/drain": {
        get: {
          summary: "Drain progress: a draining node is safe to remove once no replica lives on it",
          security: admin,
          parameters: nodeIdParam("id"),
          responses: {
            "200": ok("progress", object({ nodeId: string, status: { type: "string", enum: [...NODE_STATUSES] }, remainingReplicas: integer, safeToRemove: { type: "boolean" } })),
            ...errors(ADMIN, NO_SUCH_NODE),
          },
        },
      },
      "/admin/nodes/{id}/scrub": {
        post: {
          summary: "Start a scrub pass on the node now; its findings arrive as a scrub report",
          security: admin,
          parameters: nodeIdParam("id"),
          responses: { "202": ok("started", object({ nodeId: string, scrubbing: okTrue })), ...errors(ADMIN, NO_SUCH_NODE, { 502: ["NodeUnavailable"] }) },
        },
      },
      "/admin/repair": {
        get: {
          summary: "The repair backlog: unusable nodes, reported faults, and segments below their replication factor (per bucket)",
          security: admin,
          responses: {
            "200": ok("the backlog", object({ unusableNodes: { type: "array", items: string }, faults: integer, segmentsNeedingRepair: integer, replication: { type: "object" } })),
            ...errors(ADMIN),
          },
        },
      },
      "/admin/chores/{name}/run": {
        post: {
          summary: "Run a cron chore now and return its report",
          security: admin,
          parameters: [pathParam("name", { type: "string", enum: CHORES.map((chore) => chore.name) })],
          responses: { "200": ok("the chore's report", { type: "object" }), ...errors(ADMIN, { 404: ["NoSuchChore"] }) },
        },
      },
      "/admin/encryption": {
        get: {
          summary: "The configured master keys and what each still wraps: a rotation is complete, and an old key removable from MASTER_KEYS, when it wraps nothing",
          security: admin,
          responses: {
            "200": ok(
              "the master keys",
              object({ newestMasterKey: string, masterKeys: { type: "array" }, unconfiguredMasterKeys: { type: "array" }, rotation: object({ pending: integer, complete: { type: "boolean" }, removable: { type: "array", items: string } }) }),
            ),
            ...errors(ADMIN),
          },
        },
      },
      "/admin/diagnostics/crypto": {
        post: {
          summary: "Benchmark aid: run the edge's encryption work in its own isolate (time it from outside against mode 'none')",
          security: admin,
          requestBody: json(object({ mode: { type: "string", enum: ["none", "encrypt", "roundtrip", "small"] }, count: { type: "integer", minimum: 1, maximum: 4096 } })),
          responses: { "200": ok("what was done", object({ mode: string, count: integer, checked: integer })), ...errors(ADMIN, JSON_BODY) },
        },
      },
      "/admin/diagnostics/erasure-speed": {
        post: {
          summary: "Benchmark aid: the Reed-Solomon codec's encode and decode speed (two data shards lost) in the edge's own isolate, 64 KiB shards",
          security: admin,
          requestBody: json(z.toJSONSchema(erasureSpeedRequestSchema, { io: "input" })),
          responses: {
            "200": ok("the measured speeds (MiB of data per second)", object({ k: integer, m: integer, kernel: { type: "string", enum: ["wasm-simd", "js"] }, shardBytes: integer, stripes: integer, encodeMiBps: integer, decodeMiBps: integer, decodedShards: integer, verified: { type: "boolean" } })),
            ...errors(ADMIN, JSON_BODY),
          },
        },
      },
      "/admin/clock": {
        get: { summary: "The edge's clock (only when TEST_CLOCK is \"true\"; otherwise 404)", security: admin, responses: { "200": ok("the clock", clockView), ...errors(ADMIN, TEST_CLOCK_ONLY) } },
        post: {
          summary: "Move the edge's clock forward: request handlers, chores, Durable Objects and alarms all read it (only when TEST_CLOCK is \"true\"; otherwise 404)",
          security: admin,
          requestBody: json(z.toJSONSchema(advanceClockRequestSchema)),
          responses: { "200": ok("the clock", clockView), ...errors(ADMIN, TEST_CLOCK_ONLY, JSON_BODY) },
        },
        delete: { summary: "Back to real time (only when TEST_CLOCK is \"true\"; otherwise 404)", security: admin, responses: { "200": ok("the clock", clockView), ...errors(ADMIN, TEST_CLOCK_ONLY) } },
      },
    },
  };
}

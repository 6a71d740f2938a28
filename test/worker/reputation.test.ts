// Audit reputation: the beta-reputation math against values worked by hand, the standing machine (recovery from an
// audit suspension; an admin's suspension and a disqualification that stay), containment of timeouts, idempotent
// re-application of a round, what placement and repair do with a node's standing, and the public API.

import { env, SELF } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { edgeChain } from "../../src/chain/edge-chain.ts";
import { nodeStakingAbi } from "../../src/chain/generated/abis.ts";
import { nodeKeyOf } from "../../src/chain/node-stake.ts";
import { parseConfig } from "../../src/config.ts";
import { openDb } from "../../src/db/client.ts";
import { listPlaceableNodes, listNodes } from "../../src/db/registry.ts";
import {
  applyNodeRoundOutcomes,
  applyValidatorRoundOutcomes,
  getDisqualificationSlash,
  listContainedPieces,
  readValidatorReputation,
  validatorCountsForPeriod,
} from "../../src/db/reputation.ts";
import type { Env } from "../../src/env.ts";
import { randomHex } from "../../src/protocol/crypto.ts";
import { settleDisqualificationSlashes } from "../../src/services/disqualification-slash.ts";
import { placeReplicas, type PlacementCandidate } from "../../src/services/placement.ts";
import {
  applyAudit,
  judgeStanding,
  newNodeReputation,
  scoreOf,
  updateBeta,
  type AuditOutcome,
  type ReputationParams,
} from "../../src/services/reputation.ts";
import { unusableNodes } from "../../workers/cron/repair.ts";
import { admin, EDGE, registerTestNode } from "./helpers.ts";

const workerEnv = env as unknown as Env;
const db = () => openDb(workerEnv.DB);

/** Fast parameters, as the end-to-end tests use: lambda 0.9 (steady alpha 10), vetting after 3 passes. */
const fast: ReputationParams = {
  lambda: 0.9,
  weight: 1,
  initialAlpha: 10,
  warnBelow: 0.95,
  suspendBelow: 0.85,
  disqualifyBelow: 0.6,
  suspensionRecoveryMargin: 0.05,
  vettingAudits: 3,
  containmentRetries: 2,
};

const beat = { totalBytes: 100 * 1024 ** 3, freeBytes: 50 * 1024 ** 3, usedBytes: 0, blobCount: 0, healthy: true, agentVersion: "0.1.0" };

async function liveNode(overrides: { nodeId?: string } = {}) {
  const node = await registerTestNode(overrides);
  expect((await node.send("heartbeat", beat)).status).toBe(200);
  return node;
}

let round = 0;
/** Applies one round of `outcomes` (each on its own piece unless named) to a node, under a fresh round id. */
async function audit(nodeId: string, outcomes: (AuditOutcome | [AuditOutcome, string])[], params = fast) {
  const audits = outcomes.map((o, i) => (Array.isArray(o) ? { outcome: o[0], pieceId: o[1] } : { outcome: o, pieceId: `piece-${i}-${randomHex(4)}` }));
  return applyNodeRoundOutcomes(db(), { roundId: `round-${++round}-${randomHex(4)}`, nodeId, audits, params, now: Date.now() });
}

async function reputationOf(nodeId: string) {
  const res = await SELF.fetch(`${EDGE}/api/v1/nodes/${nodeId}/reputation`);
  expect(res.status).toBe(200);
  return (await res.json()) as { nodeId: string; standing: string; auditScore: number; onlineScore: number; audits: { passed: number; failed: number } };
}

async function placeable(nodeId: string): Promise<boolean> {
  return (await listPlaceableNodes(db(), Date.now(), Number(workerEnv.NODE_OFFLINE_AFTER_SECONDS) * 1000)).some((n) => n.id === nodeId);
}

describe("beta reputation (Storj's UpdateReputation)", () => {
  it("decays by lambda and adds the weight to alpha on a pass, to beta on a failure", () => {
    const p = { lambda: 0.999, weight: 1 };
    const passed = updateBeta({ alpha: 1, beta: 0 }, true, p);
    expect(passed.alpha).toBeCloseTo(1.999, 12);
    expect(passed.beta).toBe(0);
    const failed = updateBeta({ alpha: 1, beta: 0 }, false, p);
    expect(failed.alpha).toBeCloseTo(0.999, 12);
    expect(failed.beta).toBe(1);
    // score = alpha / (alpha + beta) = 0.999 / 1.999
    expect(scoreOf(failed)).toBeCloseTo(0.49974987, 8);
  });

  it("with Storj's defaults takes 41 failures in a row from a new node to fall below 0.96", () => {
    const defaults = parseConfig({ S3_REGIONS: "us-east-1", S3_BASE_DOMAINS: "", HEARTBEAT_INTERVAL_SECONDS: "30", NODE_OFFLINE_AFTER_SECONDS: "90", REPAIR_GRACE_SECONDS: "600", ORPHAN_GRACE_SECONDS: "3600", MULTIPART_ABANDON_AFTER_HOURS: "24", REGISTRATION_CHAIN_ID: "31337" }).reputation;
    expect(defaults).toMatchObject({ lambda: 0.999, initialAlpha: expect.closeTo(1000, 6), disqualifyBelow: 0.96, vettingAudits: 100, containmentRetries: 3 });
    let r = { alpha: defaults.initialAlpha, beta: 0 };
    let failures = 0;
    while (scoreOf(r) >= defaults.disqualifyBelow) {
      r = updateBeta(r, false, defaults);
      failures++;
    }
    // At the steady state alpha + beta stays 1000, so the score after n failures is 0.999^n.
    expect(failures).toBe(41);
    expect(scoreOf(r)).toBeCloseTo(0.999 ** 41, 10);
  });

  it("refuses thresholds out of order, naming the var", () => {
    const base = { S3_REGIONS: "us-east-1", S3_BASE_DOMAINS: "", HEARTBEAT_INTERVAL_SECONDS: "30", NODE_OFFLINE_AFTER_SECONDS: "90", REPAIR_GRACE_SECONDS: "600", ORPHAN_GRACE_SECONDS: "3600", MULTIPART_ABANDON_AFTER_HOURS: "24", REGISTRATION_CHAIN_ID: "31337" };
    expect(() => parseConfig({ ...base, AUDIT_SUSPEND_BELOW: "0.5", AUDIT_DISQUALIFY_BELOW: "0.6" })).toThrow(/AUDIT_SUSPEND_BELOW/);
    expect(() => parseConfig({ ...base, AUDIT_LAMBDA: "1.5" })).toThrow(/AUDIT_LAMBDA/);
  });
});

describe("containment and standing (pure)", () => {
  it("retries a timed-out piece before the timeouts count as one failure, and never fails a node that answers within the allowance", () => {
    let rep = newNodeReputation(fast);
    const first = applyAudit(rep, { outcome: "timeout", containedTimeouts: 0 }, fast);
    expect(first).toMatchObject({ counted: "contained", containedTimeouts: 1, rechallenge: true });
    expect(first.reputation.failed).toBe(0);
    expect(scoreOf(first.reputation.audit)).toBe(1);
    expect(scoreOf(first.reputation.online)).toBeLessThan(1);
    const second = applyAudit(first.reputation, { outcome: "timeout", containedTimeouts: 1 }, fast);
    expect(second).toMatchObject({ counted: "contained", containedTimeouts: 2, rechallenge: true });
    // The slow node answers on the last retry: a pass, the containment cleared.
    const answered = applyAudit(second.reputation, { outcome: "pass", containedTimeouts: 2 }, fast);
    expect(answered).toMatchObject({ counted: "pass", containedTimeouts: 0, rechallenge: false });
    expect(answered.reputation).toMatchObject({ passed: 1, failed: 0 });
    // Had it timed out once more (3 > 2 retries), it would have been one failed audit.
    rep = second.reputation;
    const gaveUp = applyAudit(rep, { outcome: "timeout", containedTimeouts: 2 }, fast);
    expect(gaveUp).toMatchObject({ counted: "fail", containedTimeouts: 0, rechallenge: false });
    expect(gaveUp.reputation.failed).toBe(1);
  });

  it("keeps disqualification final and lifts an audit suspension only past the margin", () => {
    const at = (score: number) => ({ audit: { alpha: score, beta: 1 - score }, passed: 10 });
    expect(judgeStanding("disqualified", at(1), fast)).toBe("disqualified");
    expect(judgeStanding("active", at(0.59), fast)).toBe("disqualified");
    expect(judgeStanding("active", at(0.84), fast)).toBe("suspended");
    // Back above suspendBelow (0.85) but not above it plus the margin (0.90): still suspended.
    expect(judgeStanding("suspended", at(0.87), fast)).toBe("suspended");
    expect(judgeStanding("suspended", at(0.91), fast)).toBe("warned");
    expect(judgeStanding("warned", at(0.96), fast)).toBe("active");
    expect(judgeStanding("active", at(0.96), { ...fast, vettingAudits: 11 })).toBe("vetting");
  });
});

describe("applying a round's outcomes to a node", () => {
  it("vets a new node after 3 passed audits and reports its scores on the public API", async () => {
    const { m } = await liveNode();
    expect(await reputationOf(m.nodeId)).toEqual({ nodeId: m.nodeId, standing: "vetting", auditScore: 1, onlineScore: 1, audits: { passed: 0, failed: 0 } });
    expect((await audit(m.nodeId, ["pass", "pass"])).standing).toBe("vetting");
    const third = await audit(m.nodeId, ["pass"]);
    expect(third).toMatchObject({ applied: true, previousStanding: "vetting", standing: "active", auditScore: 1 });
    expect(await reputationOf(m.nodeId)).toEqual({ nodeId: m.nodeId, standing: "active", auditScore: 1, onlineScore: 1, audits: { passed: 3, failed: 0 } });
  });

  it("changes nothing when the same round is applied again (a coordinator retrying after a crash)", async () => {
    const { m } = await liveNode();
    const audits = [
      { pieceId: "p-lost", outcome: "fail" as const },
      { pieceId: "p-slow", outcome: "timeout" as const },
    ];
    const o = { roundId: `round-retry-${randomHex(4)}`, nodeId: m.nodeId, audits, params: fast, now: Date.now() };
    const first = await applyNodeRoundOutcomes(db(), o);
    const before = await reputationOf(m.nodeId);
    const again = await applyNodeRoundOutcomes(db(), o);
    expect(first).toMatchObject({ applied: true, rechallenge: ["p-slow"] });
    expect(again).toMatchObject({ applied: false, standing: first.standing, rechallenge: ["p-slow"] });
    expect(again.auditScore).toBeCloseTo(first.auditScore, 12);
    expect(await reputationOf(m.nodeId)).toEqual(before);
    expect(before.audits).toEqual({ passed: 0, failed: 1 });
    // Concurrent retries of one round: exactly one applies.
    const racing = { ...o, roundId: `round-race-${randomHex(4)}` };
    const results = await Promise.all([applyNodeRoundOutcomes(db(), racing), applyNodeRoundOutcomes(db(), racing), applyNodeRoundOutcomes(db(), racing)]);
    expect(results.filter((r) => r.applied)).toHaveLength(1);
    expect((await reputationOf(m.nodeId)).audits).toEqual({ passed: 0, failed: 2 });
  });

  it("re-challenges a timed-out piece across rounds and counts it failed only after the retries", async () => {
    const { m } = await liveNode();
    expect((await audit(m.nodeId, [["timeout", "p1"]])).rechallenge).toEqual(["p1"]);
    expect((await listContainedPieces(db())).filter((c) => c.nodeId === m.nodeId)).toEqual([{ nodeId: m.nodeId, pieceId: "p1", timeouts: 1 }]);
    expect((await audit(m.nodeId, [["timeout", "p1"]])).rechallenge).toEqual(["p1"]);
    expect((await reputationOf(m.nodeId)).audits).toEqual({ passed: 0, failed: 0 });
    expect((await audit(m.nodeId, [["timeout", "p1"]])).rechallenge).toEqual([]);
    expect((await reputationOf(m.nodeId)).audits).toEqual({ passed: 0, failed: 1 });
    expect((await listContainedPieces(db())).filter((c) => c.nodeId === m.nodeId)).toEqual([]);
    const history = (await (await SELF.fetch(`${EDGE}/api/v1/nodes/${m.nodeId}/audits?limit=2`)).json()) as { audits: { pieceId: string; outcome: string; counted: string }[] };
    expect(history.audits).toEqual([
      expect.objectContaining({ pieceId: "p1", outcome: "timeout", counted: "fail" }),
      expect.objectContaining({ pieceId: "p1", outcome: "timeout", counted: "contained" }),
    ]);
  });

  it("suspends a failing node (no new data, its pieces repaired away) and lifts the suspension once its score recovers", async () => {
    const { m, send } = await liveNode();
    await audit(m.nodeId, ["pass", "pass", "pass"]);
    expect(await placeable(m.nodeId)).toBe(true);
    // 10 -> 0.9 -> 0.81: below 0.85.
    expect((await audit(m.nodeId, ["fail", "fail"])).standing).toBe("suspended");
    expect(await placeable(m.nodeId)).toBe(false);
    const all = await listNodes(db());
    expect(unusableNodes(all, Date.now(), 3_600_000).has(m.nodeId)).toBe(true);
    // The operator hears it at the next heartbeat.
    expect(await (await send("heartbeat", beat)).json()).toMatchObject({ ok: true, status: "active", standing: "suspended" });
    // score' = 0.9·score + 0.1: 0.829, 0.846, then 0.862 is back above 0.85 but not above 0.85 + 0.05.
    expect((await audit(m.nodeId, ["pass", "pass", "pass"])).standing).toBe("suspended");
    // 0.875, 0.888, 0.899, 0.909.
    const recovered = await audit(m.nodeId, ["pass", "pass", "pass", "pass"]);
    expect(recovered.auditScore).toBeGreaterThanOrEqual(0.9);
    expect(recovered.standing).toBe("warned");
    expect(await placeable(m.nodeId)).toBe(true);
    expect(unusableNodes(await listNodes(db()), Date.now(), 3_600_000).has(m.nodeId)).toBe(false);
  });

  it("keeps an admin's suspension whatever the audits say, and audits never lift it", async () => {
    const { m } = await liveNode();
    expect((await admin("PUT", `/nodes/${m.nodeId}`, { status: "suspended" })).status).toBe(200);
    const after = await audit(m.nodeId, ["pass", "pass", "pass", "pass"]);
    expect(after.standing).toBe("active");
    const nodes = (await (await admin("GET", "/nodes")).json()) as { nodes: { id: string; status: string; standing: string }[] };
    expect(nodes.nodes.find((n) => n.id === m.nodeId)).toMatchObject({ status: "suspended", standing: "active" });
    expect(await placeable(m.nodeId)).toBe(false);
  });

  it("disqualifies for good, and records the skipped slash once when no chain is configured", async () => {
    const { m, send } = await liveNode();
    // 10 -> 0.9, 0.81, 0.729, 0.656, 0.59: below 0.6.
    expect((await audit(m.nodeId, ["fail", "fail", "fail", "fail", "fail"])).standing).toBe("disqualified");
    expect(await placeable(m.nodeId)).toBe(false);
    expect(unusableNodes(await listNodes(db()), Date.now(), 3_600_000).has(m.nodeId)).toBe(true);
    // Passing afterwards changes nothing.
    expect((await audit(m.nodeId, Array(30).fill("pass"))).standing).toBe("disqualified");
    expect(await (await send("heartbeat", beat)).json()).toMatchObject({ standing: "disqualified" });

    expect(await getDisqualificationSlash(db(), m.nodeId)).toMatchObject({ state: "pending" });
    const report = await settleDisqualificationSlashes(workerEnv, db(), Date.now());
    expect(report.skipped).toContainEqual({ nodeId: m.nodeId, detail: expect.stringContaining("CHAIN_RPC_URL is not set") });
    expect(await getDisqualificationSlash(db(), m.nodeId)).toMatchObject({ state: "skipped", txHash: null });
    const again = await settleDisqualificationSlashes(workerEnv, db(), Date.now());
    expect([...again.skipped, ...again.slashed].map((s) => s.nodeId)).not.toContain(m.nodeId);
  });
});

describe("placement and vetting", () => {
  const GiB = 1024 ** 3;
  const candidate = (i: number, standing: string): PlacementCandidate => ({
    id: `node_${String(i).padStart(16, "0")}`,
    zone: `zone-${i}`,
    operatorAddress: `0xop${i}`,
    freeBytes: 100 * GiB,
    capacityBytes: 1000 * GiB,
    placedBytes: 0,
    standing,
  });

  it("gives a vetting node a small share of new data where vetted nodes can take it", () => {
    const pool = [candidate(0, "vetting"), ...Array.from({ length: 9 }, (_, i) => candidate(i + 1, "active"))];
    let vettingChosen = 0;
    const blobs = 3000;
    for (let i = 0; i < blobs; i++) if (placeReplicas(pool, `blob-${i}`, 1024, 1)[0]!.id === pool[0]!.id) vettingChosen++;
    // Equal weight would give it ~10%; a tenth of the weight gives it ~1.1% (0.1 / 9.1).
    expect(vettingChosen / blobs).toBeGreaterThan(0.002);
    expect(vettingChosen / blobs).toBeLessThan(0.03);
  });

  it("still uses vetting nodes where a stripe needs every node there is", () => {
    const pool = [candidate(0, "vetting"), candidate(1, "active"), candidate(2, "active")];
    for (let i = 0; i < 50; i++) expect(placeReplicas(pool, `blob-${i}`, 1024, 3).map((n) => n.id)).toContain(pool[0]!.id);
  });
});

describe("validators", () => {
  it("costs a missed or minority assignment reputation, applies a round once, and counts agreed assignments per day", async () => {
    const validator = `0x${randomHex(20)}`;
    const now = Date.UTC(2031, 0, 15, 12);
    const apply = (roundId: string, outcomes: ("agreed" | "minority" | "missed" | "undecided")[], at = now) =>
      applyValidatorRoundOutcomes(db(), { roundId, validator: validator.toUpperCase().replace("0X", "0x"), outcomes, params: fast, now: at });
    expect(await apply("v-r1", ["agreed", "agreed", "undecided"])).toEqual({ applied: true, score: 1 });
    expect((await apply("v-r1", ["agreed", "agreed", "undecided"])).applied).toBe(false);
    const second = await apply("v-r2", ["minority", "missed"]);
    // 10 -> (9, 1) -> (8.1, 1.9): 0.81.
    expect(second.score).toBeCloseTo(0.81, 10);
    await apply("v-r3", ["agreed"], Date.UTC(2031, 0, 16, 1));
    expect(await readValidatorReputation(db(), validator, fast)).toMatchObject({ completed: 5, agreed: 3, minority: 1, missed: 1 });
    const day15 = (await validatorCountsForPeriod(db(), "2031-01-15", "2031-01-15")).find((c) => c.validator === validator);
    expect(day15).toEqual({ validator, completed: 4, agreed: 2, minority: 1, missed: 1 });
    const both = (await validatorCountsForPeriod(db(), "2031-01-15", "2031-01-16")).find((c) => c.validator === validator);
    expect(both).toMatchObject({ agreed: 3, completed: 5 });
  });
});

describe("GET /api/v1/nodes/:id/reputation and /audits", () => {
  it("answers 404 NoSuchNode for an unknown node and 400 ValidationError for a malformed id or limit", async () => {
    const unknown = await SELF.fetch(`${EDGE}/api/v1/nodes/node_${"0".repeat(15)}9/reputation`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: "NoSuchNode" });
    const bad = await SELF.fetch(`${EDGE}/api/v1/nodes/not-a-node/reputation`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: "ValidationError" });
    expect((await SELF.fetch(`${EDGE}/api/v1/nodes/not-a-node/audits`)).status).toBe(400);
    const { m } = await liveNode();
    const badLimit = await SELF.fetch(`${EDGE}/api/v1/nodes/${m.nodeId}/audits?limit=0`);
    expect(badLimit.status).toBe(400);
    expect(await badLimit.json()).toMatchObject({ code: "ValidationError" });
  });
});

declare module "vitest" {
  export interface ProvidedContext {
    chain: { vars: Record<string, string>; stakedNodeIds: string[]; settlementNodeIds: string[] };
  }
}

describe("the slash of a disqualified node, with a chain", () => {
  it("slashes its stake once, records the transaction, and a retry after a crash finds that slash instead of sending another", async () => {
    const chainEnv = { ...workerEnv, ...inject("chain").vars } as Env;
    // The third node test/helpers/worker-chain.ts staked (the first two belong to stake-gate.test.ts).
    const nodeId = inject("chain").stakedNodeIds[2]!;
    const { m } = await liveNode({ nodeId });
    const chain = edgeChain(chainEnv)!;
    const bondedOf = async () =>
      (await chain.client.readContract({ address: chain.config.contracts.nodeStaking, abi: nodeStakingAbi, functionName: "nodeStake", args: [nodeKeyOf(m.nodeId)] }))[1];
    const before = await bondedOf();
    expect(before).toBeGreaterThan(0n);

    expect((await audit(m.nodeId, ["fail", "fail", "fail", "fail", "fail"])).standing).toBe("disqualified");
    const report = await settleDisqualificationSlashes(chainEnv, db(), Date.now());
    expect(report.errors).toEqual([]);
    // AUDIT_DISQUALIFICATION_SLASH_BPS defaults to 1000: a tenth of the stake held.
    const slashed = report.slashed.find((s) => s.nodeId === m.nodeId)!;
    expect(slashed).toMatchObject({ amount: (before / 10n).toString(), txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/) });
    expect(await bondedOf()).toBe(before - before / 10n);
    expect(await getDisqualificationSlash(db(), m.nodeId)).toMatchObject({ state: "slashed", txHash: slashed.txHash, amount: slashed.amount });

    // Settling again sends nothing.
    expect((await settleDisqualificationSlashes(chainEnv, db(), Date.now())).slashed.map((s) => s.nodeId)).not.toContain(m.nodeId);
    // A crash after the transaction but before its hash was recorded: the row is still pending.
    await workerEnv.DB.prepare("UPDATE node_disqualification_slashes SET state = 'pending', tx_hash = NULL WHERE node_id = ?").bind(m.nodeId).run();
    const retried = await settleDisqualificationSlashes(chainEnv, db(), Date.now());
    expect(retried.slashed).toContainEqual({ nodeId: m.nodeId, txHash: slashed.txHash, amount: slashed.amount });
    expect(await bondedOf()).toBe(before - before / 10n);
  });
});

// End to end: a period settles on the network `npm start` runs. Two accounts store and read objects through the AWS
// SDK (the bytes land on three nodes), three validators judge a challenge round, a payment arrives by webhook; the
// period ends on the test clock, the settlement chore closes it, swaps the fiat share for ICNT at the pool's TWAP,
// splits it, and posts and funds the root; each node operator and validator then claims exactly its leaf with
// `icn-node-agent rewards claim`, and the period's books balance to the unit.

import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { execFile } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { createPublicClient, erc20Abi, http, type Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mnemonicKey, VALIDATOR_STAKE_ACCOUNT_INDEXES } from "../../src/localnet/chain.ts";
import { operatorWallet, type LocalNetwork, type NetworkDescription } from "../../src/localnet/network.ts";
import { edgeS3Client, startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";

const run = promisify(execFile);
const PERIOD_MINUTES = 5;
const OBJECT_BYTES = 300 * 1024;

let network: LocalNetwork;
let d: NetworkDescription;

interface PeriodView {
  id: string;
  state: string;
  revenueMinor: string;
  buyback: { stableIn: string; icntOut: string; txHash: string; priceUsdcPerIcnt: string } | null;
  payouts: { account: string; amount: string }[];
  operators: { account: string; amount: string }[];
  validators: { account: string; amount: string }[];
  rewardsRoot: string | null;
  rewardsTxHash: string | null;
}

async function api<T>(method: string, path: string, token: string, body?: unknown): Promise<T> {
  const res = await fetch(`${d.edgeUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  expect(res.ok, `${method} ${path}: ${res.status} ${text}`).toBe(true);
  return JSON.parse(text) as T;
}
const admin = <T>(method: string, path: string, body?: unknown) => api<T>(method, `/admin${path}`, d.adminToken, body);

async function edgeNow(): Promise<number> {
  return Date.parse((await admin<{ now: string }>("GET", "/clock")).now);
}

async function advanceEdgeTo(ms: number): Promise<void> {
  const seconds = Math.ceil((ms - (await edgeNow())) / 1000);
  if (seconds > 0) await admin("POST", "/clock", { advanceSeconds: seconds });
}

/** Waits (bounded) for every node's heartbeat on the edge's advanced clock: until then none is placeable. */
async function nodesLive(): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { nodes } = await admin<{ nodes: { live: boolean }[] }>("GET", "/nodes");
    if (nodes.length === d.nodes.length && nodes.every((n) => n.live)) return;
    expect(Date.now() < deadline, "nodes did not heartbeat on the advanced clock").toBe(true);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Start and end (ms) of the period `atMs` falls in. */
function periodAt(atMs: number): { id: string; start: number; end: number } {
  const windowMs = PERIOD_MINUTES * 60_000;
  const start = Math.floor(atMs / windowMs) * windowMs;
  return { id: new Date(start).toISOString().slice(0, 16) + "Z", start, end: start + windowMs };
}

async function chainRpc(method: string, params: unknown[] = []): Promise<void> {
  const res = await fetch(d.chain.rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
  const body = (await res.json()) as { error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
}

const chain = () => createPublicClient({ transport: http(d.chain.rpcUrl) });
const icntOf = (address: string) => chain().readContract({ address: d.chain.contracts.icnt, abi: erc20Abi, functionName: "balanceOf", args: [address as Address] });

/** `icn-node-agent rewards claim` as a payee runs it. */
async function claimWithCli(walletKey: string): Promise<void> {
  const bin = join(import.meta.dirname, "../../node-agent/bin/icn-node-agent.js");
  await run(process.execPath, [bin, "rewards", "claim", "--edge-url", d.edgeUrl, "--wallet-key", walletKey, "--chain-rpc-url", d.chain.rpcUrl], { timeout: 120_000 });
}

let period: { id: string; start: number; end: number };

beforeAll(async () => {
  ({ network, d } = await startTestNetwork("icn-settlement-e2e-", {
    nodeCount: 3,
    validatorCount: 3,
    vars: { FINANCE_PERIOD_MINUTES: String(PERIOD_MINUTES), BUYBACK_MIN_WINDOW_SECONDS: "60" },
  }));
}, 240_000);

afterAll(() => stopTestNetwork(network), 60_000);

describe("a period settles on the local network", () => {
  it("meters real traffic from two accounts, a validator round and a webhook payment in one period", async () => {
    // Prices from the next period on: egress only, $10 a megabyte, so the period's revenue is its reads.
    const next = periodAt(periodAt(await edgeNow()).end);
    const sheets = await api<{ versions: { version: number }[] }>("GET", "/finance/price-sheets", d.finance.token);
    await api("POST", "/finance/price-sheets", d.finance.token, {
      version: Math.max(0, ...sheets.versions.map((v) => v.version)) + 1,
      currency: "USD",
      effectiveFrom: new Date(next.start).toISOString(),
      storagePerTbMonth: "0",
      egressPerTb: "10000000000000",
      classAPerMillion: "0",
      classBPerMillion: "0",
    });
    await advanceEdgeTo(next.start + 5_000);
    await nodesLive();
    period = periodAt(await edgeNow());
    expect(period.id).toBe(next.id);

    for (const [who, reads] of [["default", 2], ["second", 1]] as const) {
      const s3: S3Client = edgeS3Client(d, { keys: d.accounts[who], systemClockOffset: (await edgeNow()) - Date.now() });
      const bucket = `settle-${who}`;
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      const body = randomBytes(OBJECT_BYTES);
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "data", Body: body }));
      for (let i = 0; i < reads; i++) {
        const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "data" }))).Body!.transformToByteArray());
        expect(got.equals(body)).toBe(true);
      }
    }

    // A challenge round the three validators judge (it closes within the period).
    const { roundId } = await admin<{ roundId?: number }>("POST", "/chores/challenge-round/run");
    expect(roundId).toBeGreaterThan(0);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const round = await api<{ state: string }>("GET", `/validators/rounds/${roundId}`, d.adminToken);
      if (round.state === "closed") break;
      expect(Date.now() < deadline, `round ${roundId} did not close`).toBe(true);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(periodAt(await edgeNow()).id).toBe(period.id);

    // The default account pays $5 by webhook, signed as the provider signs it.
    const event = { id: `evt_${randomBytes(6).toString("hex")}`, type: "payment.succeeded", data: { accountId: d.accounts.default.id, amountMinor: 500, currency: "USD" } };
    const raw = JSON.stringify(event);
    const t = Math.floor((await edgeNow()) / 1000);
    const signature = createHmac("sha256", d.finance.webhookSecret).update(`${t}.${raw}`).digest("hex");
    const paid = await fetch(`${d.edgeUrl}/api/v1/finance/payments/webhook`, { method: "POST", headers: { "icn-signature": `t=${t},v1=${signature}`, "content-type": "application/json" }, body: raw });
    expect(paid.status).toBe(200);
  }, 300_000);

  it("closes, buys back at the TWAP, splits, posts and funds the root once the period has ended", async () => {
    await advanceEdgeTo(period.end + 6 * 60_000);
    // The TWAP window's start, then a window of chain time.
    await admin("POST", "/chores/pool-observer/run");
    await chainRpc("evm_increaseTime", [120]);
    await chainRpc("evm_mine");
    const report = await admin<{ periods: { id: string; state: string; steps: { step: string; outcome: string; error?: string }[] }[] }>("POST", "/chores/settlement/run");
    const mine = report.periods.find((p) => p.id === period.id);
    expect(mine?.state, JSON.stringify(report)).toBe("settled");

    const view = await admin<PeriodView>("GET", `/finance/periods/${period.id}`);
    // Three reads of 300 KiB at $10 a megabyte (the bytes as clients see them).
    const revenue = (3n * BigInt(OBJECT_BYTES) * 10n ** 13n) / 10n ** 12n / 10n ** 4n;
    expect(BigInt(view.revenueMinor)).toBe(revenue);
    expect(view.buyback!.stableIn).toBe(((revenue / 2n) * 10n ** 4n).toString());
    const price = BigInt(view.buyback!.priceUsdcPerIcnt);
    expect(price > 240_000n && price < 260_000n, `price ${price}`).toBe(true);
    expect(view.rewardsRoot).toMatch(/^0x[0-9a-f]{64}$/);
    // Every node's operator and every validator that agreed earned something.
    expect(new Set(view.operators.map((o) => o.account))).toEqual(new Set(d.nodes.map((n) => n.operator.toLowerCase())));
    expect(view.validators.length).toBeGreaterThan(0);
    for (const v of view.validators) expect(d.chain.validators.map((x) => x.address.toLowerCase())).toContain(v.account);

    const tb = await admin<{ balanced: boolean; currencies: { currency: string; debits: string; credits: string }[]; accounts: { account: string; subaccount: string; currency: string; balance: string }[] }>(
      "GET",
      `/finance/periods/${period.id}/trial-balance`,
    );
    expect(tb.balanced).toBe(true);
    for (const c of tb.currencies) expect(c.debits).toBe(c.credits);
    for (const a of tb.accounts.filter((x) => ["rewards_pool", "operator_payables", "validator_payables"].includes(x.account))) expect(a.balance).toBe("0");
    const receivable = tb.accounts.find((a) => a.account === "receivables" && a.subaccount === d.accounts.default.id)!;
    expect(BigInt(receivable.balance)).toBe((2n * revenue) / 3n - 500n);
  }, 300_000);

  it("lets each operator and validator claim exactly its leaf with icn-node-agent rewards claim", async () => {
    const view = await admin<PeriodView>("GET", `/finance/periods/${period.id}`);
    const payees = [
      ...d.nodes.map((n) => ({ address: n.operator.toLowerCase(), key: operatorWallet(n.index).privateKey })),
      ...d.chain.validators.map((v, i) => ({ address: v.address.toLowerCase(), key: mnemonicKey(VALIDATOR_STAKE_ACCOUNT_INDEXES[i]!) })),
    ];
    let claimed = 0n;
    for (const leaf of view.payouts) {
      const payee = payees.find((p) => p.address === leaf.account);
      expect(payee, `no key for ${leaf.account}`).toBeDefined();
      const before = await icntOf(leaf.account);
      await claimWithCli(payee!.key);
      expect((await icntOf(leaf.account)) - before).toBe(BigInt(leaf.amount));
      claimed += BigInt(leaf.amount);
      // Claiming again takes nothing more.
      await claimWithCli(payee!.key);
      expect((await icntOf(leaf.account)) - before).toBe(BigInt(leaf.amount));
    }
    expect(claimed > 0n).toBe(true);
    expect(claimed).toBe(view.payouts.reduce((s, p) => s + BigInt(p.amount), 0n));
  }, 600_000);
});

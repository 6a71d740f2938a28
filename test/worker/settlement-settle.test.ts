// The settlement chore end to end on the real anvil of test/helpers/worker-chain.ts: a period with S3 revenue from a
// fiat customer and a prepaying one, two nodes holding data and two validators' agreed assignments closes; the
// prepaying customer's invoice is drawn from its escrow at the TWAP; a manipulated pool defers the buyback and
// raises an alert; once the price is sane the stablecoin is swapped at the TWAP-bounded price, the ICNT split, the
// root posted and funded, the under-collateralized node's share staked for it, the escrow's withdrawal released,
// and the books balance to the unit. Run again, concurrently, and stopped at every fault point of the next period,
// nobody is paid twice.

import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { erc20Abi, type Address, type Hex } from "viem";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { createChainSigner, type ChainSigner } from "../../src/chain/clients.ts";
import { edgeChain } from "../../src/chain/edge-chain.ts";
import { testUsdcAbi, uniswapV2Router02Abi } from "../../src/chain/generated/abis.ts";
import { readEscrowBalance, requestEscrowWithdrawal, withdrawFromEscrow } from "../../src/chain/escrow.ts";
import { readNodeStake } from "../../src/chain/node-stake.ts";
import { claimReward, readRewardsPeriod } from "../../src/chain/rewards.ts";
import { sendContractTransaction } from "../../src/chain/transactions.ts";
import { clockMs } from "../../src/clock.ts";
import worker from "../../src/index.ts";
import { configOf } from "../../src/config.ts";
import { openDb } from "../../src/db/client.ts";
import { listLedgerEntries, trialBalance } from "../../src/db/ledger.ts";
import { listPriceSheets, publishPriceSheet } from "../../src/db/price-sheets.ts";
import { listAlerts } from "../../src/db/finance-alerts.ts";
import { getSettlementPeriod } from "../../src/db/settlement.ts";
import { linkWallet } from "../../src/db/wallets.ts";
import type { Env } from "../../src/env.ts";
import { periodBounds, periodIdAt } from "../../src/finance/periods.ts";
import { mnemonicKey } from "../../src/localnet/chain.ts";
import { protocolSigner } from "../../src/services/protocol-signer.ts";
import { chainPeriodOf } from "../../src/services/rewards-posting.ts";
import type { PeriodReportView } from "../../src/services/settlement/report.ts";
import { settleEndedPeriods, SETTLEMENT_GRACE_MS, type SettlementReport } from "../../src/services/settlement/run.ts";
import { runOnce as runPoolObserver } from "../../workers/cron/pool-observer.ts";
import { customerWallet } from "./escrow-helpers.ts";
import { FINANCE_TOKEN } from "./finance-helpers.ts";
import { admin, ADMIN_TOKEN, checkedS3Response, createAccountWithKey, EDGE, registerTestNode, testOperator, type TestAccount } from "./helpers.ts";

const chain = inject("chain");
/** The edge's env with the chain configured, TestUSDC standing in for converted fiat, and a one-minute TWAP window. */
const e: Env = {
  ...(env as unknown as Env),
  ...chain.vars,
  SETTLEMENT_USDC_FUNDING: "mint-test-usdc",
  BUYBACK_MIN_WINDOW_SECONDS: "60",
  POOL_OBSERVATION_INTERVAL_SECONDS: "0",
  FINANCE_TOKEN,
} as Env;
const db = openDb(e.DB);
const periodMinutes = configOf(e).finance.periodMinutes;
const { config, client } = edgeChain(e)!;
const market = config.market!;
const ICNT = 10n ** 18n;
const USDC = 10n ** 6n;

/** One cent per byte sent: a period's revenue is its egress in cents. */
const PRICES = { storagePerTbMonth: 0n, egressPerTb: 10n ** 16n, classAPerMillion: 0n, classBPerMillion: 0n };

async function rpc(method: string, params: unknown[] = []): Promise<unknown> {
  const res = await fetch(config.rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
  const body = (await res.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

/** Moves chain time forward (the TWAP window and the swap's deadline run on it). */
async function advanceChain(seconds: number): Promise<void> {
  await rpc("evm_increaseTime", [seconds]);
  await rpc("evm_mine");
}

async function advanceEdgeTo(targetMs: number): Promise<void> {
  const seconds = Math.ceil((targetMs - (await clockMs(e))) / 1000);
  if (seconds > 0) expect((await admin("POST", "/clock", { advanceSeconds: seconds })).status).toBe(200);
}

async function s3(account: TestAccount, method: string, path: string, init: { body?: BodyInit } = {}): Promise<Response> {
  const datetime = new Date(await clockMs(e)).toISOString().replace(/[:-]|\.\d{3}/g, "");
  const signed = await account.s3.sign(`${EDGE}${path}`, { method, body: init.body, aws: { datetime } });
  return checkedS3Response(await SELF.fetch(signed), `${method} ${path}`);
}

async function settle(fault?: string): Promise<SettlementReport> {
  return settleEndedPeriods(fault === undefined ? e : ({ ...e, SETTLEMENT_FAULT_AFTER_STEP: fault } as Env), new Date(await clockMs(e)));
}

async function report(periodId: string): Promise<PeriodReportView> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`${EDGE}/api/v1/admin/finance/periods/${periodId}`, { headers: { authorization: `Bearer ${FINANCE_TOKEN}` } }), e, ctx);
  await waitOnExecutionContext(ctx);
  expect(res.status).toBe(200);
  return (await res.json()) as PeriodReportView;
}

const icntOf = (address: string) => client.readContract({ address: config.contracts.icnt, abi: erc20Abi, functionName: "balanceOf", args: [address as Address] });
const signer = (index: number): ChainSigner => createChainSigner({ rpcUrl: config.rpcUrl, chainId: config.chainId, pollingIntervalMs: 250 }, mnemonicKey(index));

/** Someone with deep pockets moves the pool: buys ICNT for `usdc` (TestUSDC minted to them by its owner). */
async function pushPool(trader: ChainSigner, usdc: bigint): Promise<bigint> {
  await sendContractTransaction(protocolSigner(e, config), { address: market.usdc, abi: testUsdcAbi, functionName: "mint", args: [trader.account.address, usdc] });
  await sendContractTransaction(trader, { address: market.usdc, abi: erc20Abi, functionName: "approve", args: [market.router, usdc] });
  const before = await icntOf(trader.account.address);
  const deadline = BigInt(Math.floor(Date.now() / 1000) + 10 * 86_400);
  await sendContractTransaction(trader, { address: market.router, abi: uniswapV2Router02Abi, functionName: "swapExactTokensForTokens", args: [usdc, 0n, [market.usdc, config.contracts.icnt], trader.account.address, deadline] });
  return (await icntOf(trader.account.address)) - before;
}

/** …and sells `icnt` back. */
async function pullPool(trader: ChainSigner, icnt: bigint): Promise<void> {
  await sendContractTransaction(trader, { address: config.contracts.icnt, abi: erc20Abi, functionName: "approve", args: [market.router, icnt] });
  const deadline = BigInt(Math.floor(Date.now() / 1000) + 10 * 86_400);
  await sendContractTransaction(trader, { address: market.router, abi: uniswapV2Router02Abi, functionName: "swapExactTokensForTokens", args: [icnt, 0n, [config.contracts.icnt, market.usdc], trader.account.address, deadline] });
}

/** A fresh observation of the pool, then a window's worth of chain time. */
async function observeAndWait(): Promise<void> {
  const observed = await runPoolObserver(e, new Date(await clockMs(e)));
  expect(observed.observed).toBeDefined();
  await advanceChain(120);
}

const [fullNodeId, shortNodeId] = chain.settlementNodeIds as [string, string];
const validatorA = signer(11).account.address.toLowerCase();
const validatorB = signer(12).account.address.toLowerCase();
const trader = signer(13);

/** A period of traffic: `bytes` sent to `account`, both nodes holding data, both validators' assignments. */
async function periodOfWork(account: TestAccount, bucket: string, bytes: number): Promise<string> {
  const now = await clockMs(e);
  const period = periodIdAt(now, periodMinutes);
  expect((await s3(account, "PUT", `/${bucket}/obj-${period}`, { body: "p".repeat(bytes) })).status).toBe(200);
  expect(await (await s3(account, "GET", `/${bucket}/obj-${period}`)).text()).toHaveLength(bytes);
  // What the nodes hold (the placement the flush integrates into byte-hours): twice as much on the first.
  await e.DB.prepare("INSERT INTO placed_blobs (node_id, blob_id, bytes, placed_at) VALUES (?, ?, ?, ?), (?, ?, ?, ?)")
    .bind(fullNodeId, `blob-${period}`, 2_000_000, now, shortNodeId, `blob-${period}`, 1_000_000, now)
    .run();
  // The validators' assignments agreed with the quorum in this period (what the coordinator records per round).
  await e.DB.prepare("INSERT INTO validator_assignment_periods (validator, period_id, completed, agreed, minority, missed) VALUES (?, ?, 10, 9, 1, 0), (?, ?, 3, 3, 0, 0)")
    .bind(validatorA, period, validatorB, period)
    .run();
  return period;
}

describe("the settlement chore settles a period on chain", () => {
  let customer: TestAccount;
  let prepaying: TestAccount;
  let wallet: ChainSigner;
  let period: string;

  beforeAll(async () => {
    const now = await clockMs(e);
    const start = periodBounds(periodIdAt(now, periodMinutes), periodMinutes)!.end;
    const newest = (await listPriceSheets(db))[0]?.version ?? 0;
    await publishPriceSheet(db, { version: newest + 1, currency: "USD", effectiveFrom: start, ...PRICES }, now);
    customer = await createAccountWithKey("settle-chain");
    expect((await s3(customer, "PUT", "/settle-chain")).status).toBe(200);
    // The prepaying customer: 100 ICNT in the escrow from its linked wallet, which its $20 invoice (about 80 ICNT
    // at 0.25 USDC) draws from; it asks to withdraw all of it during the period.
    prepaying = await createAccountWithKey("settle-prepaid");
    expect((await s3(prepaying, "PUT", "/settle-prepaid")).status).toBe(200);
    wallet = await customerWallet(100n * ICNT);
    expect(await linkWallet(db, { accountId: prepaying.id, wallet: wallet.account.address.toLowerCase(), signature: "0x", issuedAt: Math.floor(now / 1000), linkedAt: now })).toHaveProperty("linked");
    for (const nodeId of [fullNodeId, shortNodeId]) await registerTestNode({ nodeId });
    await advanceEdgeTo(start + 60_000);
    // 3000 bytes sent: $30 of fiat revenue, half of it ($15) buys ICNT; and $20 paid in prepaid ICNT.
    period = await periodOfWork(customer, "settle-chain", 3000);
    expect((await s3(prepaying, "PUT", "/settle-prepaid/o", { body: "q".repeat(2000) })).status).toBe(200);
    expect(await (await s3(prepaying, "GET", "/settle-prepaid/o")).text()).toHaveLength(2000);
    await requestEscrowWithdrawal(wallet, { escrow: config.contracts.serviceEscrow, amount: 100n * ICNT });
    await advanceEdgeTo(periodBounds(period, periodMinutes)!.end + SETTLEMENT_GRACE_MS + 60_000);
  });

  it("draws the prepaid invoice at the TWAP, defers the buyback while the pool's spot price is pushed from it, and raises an alert", async () => {
    await observeAndWait();
    const bought = await pushPool(trader, 40_000n * USDC);
    const run = await settle();
    const mine = run.periods.find((p) => p.id === period)!;
    expect(mine.state).toBe("deferred");
    expect(mine.steps.map((s) => [s.step, s.outcome])).toEqual([["close", "done"], ["draw", "done"], ["buyback", "deferred"]]);
    const view = await report(period);
    expect(view).toMatchObject({ state: "deferred", revenueMinor: "5000", buyback: null, payouts: [], rewardsRoot: null });
    expect(view.deferral?.reason).toBe("SpotDeviatesFromTwap");
    const alerts = await listAlerts(db, { open: true, limit: 100 });
    expect(alerts.filter((a) => a.periodId === period).map((a) => [a.step, a.kind, a.reason])).toEqual([["buyback", "deferred", "spot_deviates_from_twap"]]);
    // The draw priced ICNT at the window's TWAP (the push lasted a block or two of it), not at the pushed spot.
    const price = BigInt(view.prepaid!.usdcPerIcnt);
    expect(price > 245_000n && price < 255_000n).toBe(true);
    const owed = (2000n * 10n ** 4n * ICNT) / price;
    expect(view.prepaid!.draws).toEqual([expect.objectContaining({ accountId: prepaying.id, icntDrawn: owed.toString(), coveredMinor: "2000" })]);
    expect(await readEscrowBalance(client, { escrow: config.contracts.serviceEscrow, customer: wallet.account.address })).toBe(100n * ICNT - owed);
    // The withdrawal waits for the period to settle.
    await expect(withdrawFromEscrow(wallet, { escrow: config.contracts.serviceEscrow })).rejects.toThrow(/WithdrawalNotReady/);
    // The trader takes the price back; the window after that sees a calm pool.
    await pullPool(trader, bought);
  });

  it("swaps at a sane price, splits, posts and funds the root, tops up the short node, and settles", async () => {
    await observeAndWait();
    const shortBefore = await readNodeStake(client, { stakingAddress: config.contracts.nodeStaking, nodeId: shortNodeId, capacityBytes: 10n * 1024n ** 3n, operator: testOperator.address });
    const run = await settle();
    expect((await listAlerts(db, { open: true, limit: 100 })).filter((a) => a.periodId === period)).toEqual([]);
    expect(run.periods.find((p) => p.id === period)).toEqual({
      id: period,
      state: "settled",
      steps: [
        { step: "buyback", outcome: "done" },
        { step: "split", outcome: "done" },
        { step: "post", outcome: "done" },
      ],
    });
    const view = await report(period);
    expect(view.state).toBe("settled");
    // Half the fiat revenue ($30; the prepaid $20 came as ICNT) became 15 USDC, bought at about 0.25 USDC per ICNT.
    expect(view.buyback!.stableIn).toBe((15n * USDC).toString());
    const price = BigInt(view.buyback!.priceUsdcPerIcnt);
    expect(price > 240_000n && price < 260_000n).toBe(true);
    const icntOut = BigInt(view.buyback!.icntOut);
    expect(icntOut > 57n * ICNT && icntOut < 63n * ICNT).toBe(true);

    // The split of what was bought and drawn: 10% protocol, 15% validators (9:3 agreed), the rest to the nodes;
    // both nodes new (75% held).
    const total = icntOut + BigInt(view.prepaid!.draws[0]!.icntDrawn);
    const validatorPool = view.validators.reduce((s, v) => s + BigInt(v.amount), 0n);
    const nodePool = view.nodes.reduce((s, n) => s + BigInt(n.earned), 0n);
    expect(BigInt(view.protocolShare!) + validatorPool + nodePool).toBe(total);
    expect(validatorPool - (total * 15n) / 100n <= 1n).toBe(true);
    const a = BigInt(view.validators.find((v) => v.account === validatorA)!.amount);
    const b = BigInt(view.validators.find((v) => v.account === validatorB)!.amount);
    expect(a + b).toBe(validatorPool);
    expect(a - 3n * b <= 3n && 3n * b - a <= 3n).toBe(true);
    const full = view.nodes.find((n) => n.nodeId === fullNodeId)!;
    const short = view.nodes.find((n) => n.nodeId === shortNodeId)!;
    // Twice the bytes held, the same score: about twice the earnings.
    expect(BigInt(full.earned) > BigInt(short.earned)).toBe(true);
    for (const n of [full, short]) expect(BigInt(n.held)).toBe((BigInt(n.earned) * 7_500n) / 10_000n);
    expect(BigInt(full.paid)).toBe(BigInt(full.earned) - BigInt(full.held));
    expect(full.topUp).toBe("0");
    // The short node's whole available share went into its stake, on chain.
    expect(short.paid).toBe("0");
    expect(BigInt(short.topUp)).toBe(BigInt(short.earned) - BigInt(short.held));
    const shortAfter = await readNodeStake(client, { stakingAddress: config.contracts.nodeStaking, nodeId: shortNodeId, capacityBytes: 10n * 1024n ** 3n, operator: testOperator.address });
    expect(shortAfter.bonded - shortBefore.bonded).toBe(BigInt(short.topUp));

    // One leaf per address: the operator (both nodes merged) and each validator; funded with exactly their sum.
    const leaves = new Map(view.payouts.map((p) => [p.account, BigInt(p.amount)]));
    expect(leaves).toEqual(new Map([[testOperator.address.toLowerCase(), BigInt(full.paid)], [validatorA, a], [validatorB, b]]));
    const sum = [...leaves.values()].reduce((s, x) => s + x, 0n);
    const onChain = await readRewardsPeriod(client, { distributor: config.contracts.rewardsDistributor, periodId: chainPeriodOf(period, periodMinutes) });
    expect(onChain.root).toBe(view.rewardsRoot);
    expect(onChain.funded).toBe(sum);

    // The books: every currency balances, the pool and the payables are empty, the protocol kept its share.
    const tb = await trialBalance(db, period);
    for (const c of tb.currencies) expect(c.debits).toBe(c.credits);
    expect(tb.currencies.map((c) => c.currency).sort()).toEqual(["ICNT", "USD", "USDC"]);
    const balance = (account: string, subaccount = "") => tb.accounts.find((x) => x.account === account && x.subaccount === subaccount && x.currency === "ICNT")?.balance ?? 0n;
    expect(balance("rewards_pool")).toBe(0n);
    for (const address of leaves.keys()) {
      expect(balance("operator_payables", address)).toBe(0n);
      expect(balance("validator_payables", address)).toBe(0n);
    }
    expect(-balance("protocol_share")).toBe(BigInt(view.protocolShare!));
    expect(-balance("held_back", fullNodeId)).toBe(BigInt(full.held));
    expect(balance("collateral_topups", shortNodeId)).toBe(0n);
    // What left the treasury for the distributor and the stake is what the ledger says.
    const funding = (await listLedgerEntries(db, { periodId: period, limit: 1000 })).filter((x) => x.kind === "funding");
    expect(funding.flatMap((x) => x.lines).filter((l) => l.account === "icnt_treasury").reduce((s, l) => s + l.amount, 0n)).toBe(sum);
    // The prepaid invoice is paid; the fiat one is still owed.
    const usd = (account: string, subaccount: string) => tb.accounts.find((x) => x.account === account && x.subaccount === subaccount && x.currency === "USD")?.balance ?? 0n;
    expect(usd("receivables", prepaying.id)).toBe(0n);
    expect(usd("receivables", customer.id)).toBe(3000n);
    expect(balance("prepaid_clearing")).toBe(0n);

    // The escrow counts the period settled: the withdrawal pays what the draw left.
    const left = await readEscrowBalance(client, { escrow: config.contracts.serviceEscrow, customer: wallet.account.address });
    const before = await icntOf(wallet.account.address);
    await withdrawFromEscrow(wallet, { escrow: config.contracts.serviceEscrow });
    expect((await icntOf(wallet.account.address)) - before).toBe(left);
  });

  it("exports the period's report as CSV for finance ops", async () => {
    const view = await report(period);
    const ctx = createExecutionContext();
    const res = await worker.fetch(new Request(`${EDGE}/api/v1/admin/finance/periods/${period}?format=csv`, { headers: { authorization: `Bearer ${FINANCE_TOKEN}` } }), e, ctx);
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/csv/);
    const lines = (await res.text()).replace(/^\uFEFF/, "").trim().split(/\r?\n/);
    expect(lines[0]).toBe("section,key,amount");
    expect(lines).toContain(`revenue,USD,${view.revenueMinor}`);
    expect(lines).toContain(`buyback,usdc_in,${view.buyback!.stableIn}`);
    expect(lines).toContain(`buyback,price_usdc_per_icnt,${view.buyback!.priceUsdcPerIcnt}`);
    for (const o of view.operators) expect(lines).toContain(`operator_payout,${o.account},${o.amount}`);
    for (const v of view.validators) expect(lines).toContain(`validator_payout,${v.account},${v.amount}`);
    for (const n of view.nodes) expect(lines).toContain(`node_held_back,${n.nodeId},${n.held}`);
  });

  it("lets the operator claim exactly its leaf with the proof the claims route serves", async () => {
    const view = await report(period);
    const leaf = view.payouts.find((p) => p.account === testOperator.address.toLowerCase())!;
    const res = await SELF.fetch(new Request(`${EDGE}/api/v1/finance/claims/${testOperator.address}?period=${period}`));
    expect(res.status).toBe(200);
    const claim = (await res.json()) as { amount: string; proof: Hex[] };
    expect(claim.amount).toBe(leaf.amount);
    const operator = signer(1);
    expect(operator.account.address).toBe(testOperator.address);
    const before = await icntOf(operator.account.address);
    await claimReward(operator, { distributor: config.contracts.rewardsDistributor, periodId: chainPeriodOf(period, periodMinutes), account: operator.account.address, amount: BigInt(claim.amount), proof: claim.proof });
    expect((await icntOf(operator.account.address)) - before).toBe(BigInt(leaf.amount));
  });

  it("changes nothing when run again or several times at once", async () => {
    const protocol = protocolSigner(e, config).account.address;
    const nonce = await client.getTransactionCount({ address: protocol });
    const entries = await listLedgerEntries(db, { periodId: period, limit: 1000 });
    const runs = await Promise.all([settle(), settle(), settle()]);
    for (const r of runs) expect(r.periods.find((p) => p.id === period)).toBeUndefined();
    expect(await listLedgerEntries(db, { periodId: period, limit: 1000 })).toEqual(entries);
    expect(await client.getTransactionCount({ address: protocol })).toBe(nonce);
    expect((await getSettlementPeriod(db, period))!.state).toBe("settled");
  });

  it("pays nobody twice when stopped at every step of the next period and run again", async () => {
    const next = periodIdAt(periodBounds(period, periodMinutes)!.end + 1, periodMinutes);
    const before = await clockMs(e);
    expect(before).toBeGreaterThanOrEqual(periodBounds(next, periodMinutes)!.start);
    expect(periodIdAt(before, periodMinutes)).toBe(next);
    await periodOfWork(customer, "settle-chain", 2000);
    await advanceEdgeTo(periodBounds(next, periodMinutes)!.end + SETTLEMENT_GRACE_MS + 60_000);
    await observeAndWait();
    const protocol = protocolSigner(e, config).account.address;
    const usdcBefore = await client.readContract({ address: market.usdc, abi: erc20Abi, functionName: "balanceOf", args: [protocol] });
    for (const point of ["close", "draw", "buyback.converted", "buyback.swapped", "buyback", "split.prepared", "split", "post.rewards"]) {
      await expect(settle(point), point).rejects.toThrow(new RegExp(`at ${point.replace(".", "\\.")} \\(`));
    }
    const run = await settle();
    expect(run.periods.find((p) => p.id === next)?.state).toBe("settled");
    const view = await report(next);
    // One conversion and one swap: the treasury's USDC went up by the $10 share and down by exactly one swap of it.
    expect(view.buyback!.stableIn).toBe((10n * USDC).toString());
    expect(await client.readContract({ address: market.usdc, abi: erc20Abi, functionName: "balanceOf", args: [protocol] })).toBe(usdcBefore);
    const entries = await listLedgerEntries(db, { periodId: next, limit: 1000 });
    expect(entries.filter((x) => x.kind === "buyback")).toHaveLength(1);
    expect(entries.filter((x) => x.kind === "conversion")).toHaveLength(1);
    const sum = view.payouts.reduce((s, p) => s + BigInt(p.amount), 0n);
    const onChain = await readRewardsPeriod(client, { distributor: config.contracts.rewardsDistributor, periodId: chainPeriodOf(next, periodMinutes) });
    expect(onChain.funded).toBe(sum);
    const tb = await trialBalance(db, next);
    for (const c of tb.currencies) expect(c.debits).toBe(c.credits);
    expect(tb.accounts.filter((x) => ["rewards_pool", "operator_payables", "validator_payables"].includes(x.account)).every((x) => x.balance === 0n)).toBe(true);
  });

  it("settles a period finance ops closed early at the chore's next run, without waiting for its end; a disqualified node forfeits what was held", async () => {
    await observeAndWait();
    const current = periodIdAt(await clockMs(e), periodMinutes);
    // The full node is disqualified, and holds nothing any more: what it had held back goes to the protocol.
    const heldBefore = (await trialBalance(db)).accounts.find((x) => x.account === "held_back" && x.subaccount === fullNodeId)!.balance;
    expect(heldBefore < 0n).toBe(true);
    await e.DB.prepare("UPDATE nodes SET standing = 'disqualified' WHERE id = ?").bind(fullNodeId).run();
    await e.DB.prepare("DELETE FROM placed_blobs WHERE node_id = ?").bind(fullNodeId).run();
    // (What it held in this period before that, flushed by the last run, went with its data: it did no work here.)
    await e.DB.prepare("DELETE FROM node_usage WHERE node_id = ? AND period_id = ?").bind(fullNodeId, current).run();
    expect((await s3(customer, "GET", "/settle-chain/obj-" + period)).status).toBe(200);
    const ctx = createExecutionContext();
    const closed = await worker.fetch(new Request(`${EDGE}/api/v1/admin/finance/periods/close`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }), e, ctx);
    await waitOnExecutionContext(ctx);
    expect(await closed.json()).toEqual({ periodId: current });
    expect((await getSettlementPeriod(db, current))!.state).toBe("closed");
    const run = await settle();
    expect(run.periods.find((p) => p.id === current)?.state).toBe("settled");
    const view = await report(current);
    // The read of 3000 bytes: $30, half of it bought back.
    expect(view.revenueMinor).toBe("3000");
    expect(view.buyback!.stableIn).toBe((15n * USDC).toString());
    expect(view.rewardsRoot).toMatch(/^0x[0-9a-f]{64}$/);
    const full = view.nodes.find((n) => n.nodeId === fullNodeId)!;
    expect(full.paid).toBe("0");
    expect(BigInt(full.forfeited)).toBe(BigInt(full.earned) - heldBefore);
    expect((await trialBalance(db)).accounts.find((x) => x.account === "held_back" && x.subaccount === fullNodeId)!.balance).toBe(0n);
  });
});

// The local chain's validator set and block clock (src/localnet/chain.ts): N validators staked with operational
// keys authorized in AuditLog, a smaller N revoking the rest, interval mining, and a deployment from the release
// before AuditLog replaced on start.

import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validatorOfOperationalKey } from "../../src/chain/audit-log.ts";
import { listStakedValidators } from "../../src/chain/validator-stake.ts";
import { LOCAL_PARAMETERS, LocalChain, localValidatorKeys, mnemonicKey, VALIDATOR_OPERATIONAL_ACCOUNT_INDEXES, VALIDATOR_STAKE_ACCOUNT_INDEXES } from "../../src/localnet/chain.ts";
import { startTestChain, type TestChain } from "./support.ts";

let t: TestChain;
beforeAll(async () => {
  t = await startTestChain();
});
afterAll(async () => t?.stop());

const setOf = (chain: LocalChain) => listStakedValidators(chain.client, { stakingAddress: chain.contracts.nodeStaking, auditLog: chain.contracts.auditLog });
const addressOf = (index: number) => t.chain.signer(mnemonicKey(index)).account.address;

describe("the local validator set", () => {
  it("stakes the first N validators (stake accounts 91.., keys 71..) and describes them with their keys", async () => {
    const validators = await t.chain.ensureValidatorsStaked(4);
    expect(validators.map((v) => v.address)).toEqual(VALIDATOR_STAKE_ACCOUNT_INDEXES.slice(0, 4).map(addressOf));
    expect(validators.map((v) => v.operationalAddress)).toEqual(VALIDATOR_OPERATIONAL_ACCOUNT_INDEXES.slice(0, 4).map(addressOf));
    expect(validators.map((v) => v.operationalKey)).toEqual([0, 1, 2, 3].map((i) => localValidatorKeys(i).operationalKey));
    expect(validators.every((v) => v.stake === LOCAL_PARAMETERS.minValidatorStake.toString())).toBe(true);
    expect(t.chain.describe().validators).toEqual(validators);

    const onChain = await setOf(t.chain);
    expect(onChain.map((v) => [v.address, v.operationalAddress, v.stake]).sort()).toEqual(validators.map((v) => [v.address, v.operationalAddress, BigInt(v.stake)]).sort());
  });

  it("sends nothing when the set is already in place", async () => {
    const before = await t.chain.client.getBlockNumber();
    await t.chain.ensureValidatorsStaked(4);
    expect(await t.chain.client.getBlockNumber()).toBe(before);
  });

  it("revokes the keys of validators a smaller network no longer runs, so the edge assigns them nothing", async () => {
    await t.chain.ensureValidatorsStaked(2);
    expect((await setOf(t.chain)).map((v) => v.address).sort()).toEqual(VALIDATOR_STAKE_ACCOUNT_INDEXES.slice(0, 2).map(addressOf).sort());
    expect(await validatorOfOperationalKey(t.chain.client, { auditLog: t.chain.contracts.auditLog, key: addressOf(VALIDATOR_OPERATIONAL_ACCOUNT_INDEXES[2]) })).toBeUndefined();
    // And a larger one brings them back with the same keys.
    await t.chain.ensureValidatorsStaked(3);
    expect((await setOf(t.chain)).length).toBe(3);
  });
});

describe("the local chain's clock", () => {
  it("mines blocks on an interval once asked, with no transaction sent", async () => {
    await t.chain.mineOnInterval(1);
    const start = await t.chain.client.getBlockNumber();
    await new Promise((r) => setTimeout(r, 2_500));
    expect(await t.chain.client.getBlockNumber()).toBeGreaterThanOrEqual(start + 2n);
  });
});

describe("a chain the release before AuditLog deployed", () => {
  it("is redeployed with AuditLog on start, so its address reaches the edge", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "icn-chain-upgrade-"));
    try {
      const first = await LocalChain.start({ stateDir, port: 0, logFile: join(stateDir, "anvil.log") });
      await first.deployOrReuse();
      await first.stop();
      // The previous release's record: other code, no auditLog.
      const recordFile = join(stateDir, "chain", "deployment.json");
      const record = JSON.parse(await readFile(recordFile, "utf8")) as { codeHash: string; contracts: Record<string, string> };
      delete record.contracts.auditLog;
      await writeFile(recordFile, JSON.stringify({ ...record, codeHash: "previous-release" }));

      const second = await LocalChain.start({ stateDir, port: 0, logFile: join(stateDir, "anvil.log") });
      try {
        const contracts = await second.deployOrReuse();
        expect(contracts.nodeStaking).not.toBe(record.contracts.nodeStaking);
        expect(await second.client.getCode({ address: contracts.auditLog })).toMatch(/^0x[0-9a-f]{100,}$/);
        expect(second.workerVars().AUDIT_LOG_ADDRESS).toBe(contracts.auditLog);
      } finally {
        await second.stop();
      }
    } finally {
      await rm(stateDir, { recursive: true, force: true, maxRetries: 5 });
    }
  });
});

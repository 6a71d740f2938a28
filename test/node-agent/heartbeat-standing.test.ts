// The operator hears about its node's audit standing from the agent's log: a warning each time it turns bad (or
// worse), one line when it recovers, and silence while nothing changes.

import { describe, expect, it } from "vitest";
import { createStandingWatch } from "../../node-agent/src/heartbeat-chore.ts";
import { createJsonLogger } from "../../node-agent/src/logger.ts";

function capture() {
  const lines: { level: string; event: string; standing?: string; message?: string }[] = [];
  return { lines, log: createJsonLogger((line) => lines.push(JSON.parse(line))) };
}

describe("the standing the edge reports in heartbeat answers", () => {
  it("warns once per change to warned, suspended or disqualified, and says once that the node recovered", () => {
    const { lines, log } = capture();
    const watch = createStandingWatch(log);
    for (const standing of ["vetting", "active", "active", "warned", "warned", "suspended", "suspended", undefined, "active", "active"] as const) watch.observe(standing);
    expect(lines.map((l) => [l.level, l.event, l.standing])).toEqual([
      ["warn", "node_standing", "warned"],
      ["warn", "node_standing", "suspended"],
      ["info", "node_standing_recovered", "active"],
    ]);
    expect(lines[1]!.message).toMatch(/no new data/);
  });

  it("warns at the first heartbeat when the node is already disqualified", () => {
    const { lines, log } = capture();
    createStandingWatch(log).observe("disqualified");
    expect(lines).toEqual([expect.objectContaining({ level: "warn", event: "node_standing", standing: "disqualified", message: expect.stringMatching(/final/) })]);
  });
});

// The awscli builds on this machine: the image's v1 on PATH (current botocore, new checksum defaults) and
// Debian's v2 at /usr/bin/aws. Tests run against every one that is installed.

import { execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

export interface AwsCli {
  label: string;
  command: string;
}

export function availableAwsClis(): AwsCli[] {
  const found: AwsCli[] = [];
  const seen = new Set<string>();
  for (const command of ["aws", "/usr/bin/aws"]) {
    try {
      if (command.startsWith("/") && !existsSync(command)) continue;
      const version = execFileSync(command, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 30_000 }).trim();
      const label = version.split(" ")[0] ?? command;
      if (seen.has(label)) continue;
      seen.add(label);
      found.push({ label, command });
    } catch {
      // not installed here
    }
  }
  return found;
}

export function runAws(cli: AwsCli, args: string[], endpoint: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cli.command,
      ["--endpoint-url", endpoint, ...args],
      { env: { ...process.env, ...env, AWS_CONFIG_FILE: "/dev/null", AWS_SHARED_CREDENTIALS_FILE: "/dev/null", AWS_PAGER: "" }, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => (error ? reject(new Error(`${cli.command} ${args.join(" ")}: ${error.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
}

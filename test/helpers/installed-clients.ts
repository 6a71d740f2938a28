// Which S3 clients this machine has, for the end-to-end interop tests: a client's tests are skipped, with a
// message, only when it is absent.

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

export function installed(command: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Every python with boto3 on this machine, one per boto3 version (the image's and Debian's differ). */
export function pythonsWithBoto3(): string[] {
  const byVersion = new Map<string, string>();
  for (const python of ["python3", "/usr/bin/python3"]) {
    if (python.startsWith("/") && !existsSync(python)) continue;
    try {
      const version = execFileSync(python, ["-c", "import boto3; print(boto3.__version__)"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
      if (!byVersion.has(version)) byVersion.set(version, python);
    } catch {
      // no boto3 for this python
    }
  }
  return [...byVersion.values()];
}

// Shared by the property-based tests (property-*.test.ts): fixed seeds, run counts, and what a well-formed error
// answer is on each surface. Seeds are fixed so a failure reproduces; change one only together with the report.

import { expect } from "vitest";
import { S3Error, type S3ErrorCode } from "../../src/s3/errors.ts";

/** One seed for every property: fast-check prints it with each counterexample, and `{ seed, path }` replays it. */
export const PROPERTY_SEED = 0x13_13_13;

/** The HTTP status the S3 error table gives `code`, or undefined when the code is not in the table. */
export function s3TableStatus(code: string): number | undefined {
  try {
    return new S3Error(code as S3ErrorCode).status;
  } catch {
    return undefined;
  }
}

// An S3 error document (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#RESTErrorResponses):
// an optional declaration, then <Error> holding only flat elements whose text is escaped character data.
const XML_DECLARATION = /^<\?xml\s+version\s*=\s*["']1\.0["'](\s+encoding\s*=\s*["'][Uu][Tt][Ff]-8["'])?\s*\?>\s*/;
const ESCAPED_TEXT = String.raw`(?:[^<&]|&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)*`;
const FLAT_ELEMENT = new RegExp(String.raw`^<([A-Za-z][\w.-]*)>(${ESCAPED_TEXT})</\1>|^<([A-Za-z][\w.-]*)\s*/>`);

/** Parses an S3 error document strictly; returns its elements, or a string saying why it is not one. */
export function parseS3ErrorDocument(body: string): Map<string, string> | string {
  let rest = body.replace(XML_DECLARATION, "").trim();
  const open = /^<Error\s*>/.exec(rest);
  if (!open) return "the document's root is not <Error>";
  rest = rest.slice(open[0].length);
  const fields = new Map<string, string>();
  while (!rest.startsWith("</Error>")) {
    const element = FLAT_ELEMENT.exec(rest);
    if (!element) return `unexpected content at '${rest.slice(0, 40)}'`;
    fields.set(element[1] ?? element[3]!, element[2] ?? "");
    rest = rest.slice(element[0].length).replace(/^\s+/, "");
  }
  if (rest.trim() !== "</Error>") return `content after </Error>: '${rest.slice(8, 48)}'`;
  return fields;
}

/**
 * Asserts `res` is an S3 error as a client must see it: a status below 500 (or 501 NotImplemented, which S3 sends
 * for features it lacks), an XML <Error> document (no body for HEAD) whose <Code> is in the S3 error table with
 * that same status. Returns the code (undefined for HEAD).
 */
export async function expectS3Error(res: Response, method: string, context: string): Promise<string | undefined> {
  const body = await res.text();
  const explain = `${context}\n→ ${res.status} ${body.slice(0, 600)}`;
  expect(res.status >= 400 && (res.status < 500 || res.status === 501), `status ${res.status} is not a client error\n${explain}`).toBe(true);
  if (method === "HEAD") return undefined;
  expect(res.headers.get("content-type") ?? "", explain).toMatch(/^application\/xml/);
  const doc = parseS3ErrorDocument(body);
  expect(typeof doc === "string" ? doc : "well-formed", explain).toBe("well-formed");
  const code = (doc as Map<string, string>).get("Code") ?? "";
  expect(s3TableStatus(code), `<Code>${code}</Code> with status ${res.status}\n${explain}`).toBe(res.status);
  return code;
}

/** Asserts `res` is a control-API error: JSON `{ code, message }` with a 4xx status. Returns the code. */
export async function expectJsonError(res: Response, context: string): Promise<string> {
  const text = await res.text();
  const explain = `${context}\n→ ${res.status} ${text.slice(0, 600)}`;
  expect(res.status >= 400 && res.status < 500, `status ${res.status} is not a client error\n${explain}`).toBe(true);
  expect(res.headers.get("content-type") ?? "", explain).toMatch(/^application\/json/);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const { code, message } = (body ?? {}) as { code?: unknown; message?: unknown };
  expect(typeof code === "string" && code.length > 0 && typeof message === "string", `not a JSON {code, message} error\n${explain}`).toBe(true);
  return code as string;
}

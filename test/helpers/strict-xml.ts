// The strict XML check every S3 response body in the tests goes through: a conformant XML 1.0 + Namespaces parser
// (saxes), so a document a strict client cannot read (an undeclared prefix such as `<_xsi:type>`, a stray
// character, a mismatched tag) fails the test that received it instead of surfacing in awscli as endless retries.

import { SaxesParser } from "saxes";

/** Every way `body` fails to be a namespace-well-formed XML document, empty when it is one. */
export function strictXmlErrors(body: string): string[] {
  const errors: string[] = [];
  const parser = new SaxesParser({ xmlns: true });
  parser.on("error", (error) => {
    errors.push(error.message);
  });
  parser.write(body).close();
  return errors;
}

/** Throws, naming every error and the document, unless `body` is namespace-well-formed XML. */
export function assertStrictXml(body: string, where = "response"): void {
  const errors = strictXmlErrors(body);
  if (errors.length > 0) throw new Error(`${where} is not well-formed XML (${errors.join("; ")}):\n${body.slice(0, 2000)}`);
}

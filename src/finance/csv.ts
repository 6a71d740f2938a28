// CSV as RFC 4180 writes it (https://www.rfc-editor.org/rfc/rfc4180): comma-separated fields, CRLF line ends, a
// field quoted when it holds a comma, a quote or a line break, and quotes inside doubled. The parser also takes
// LF line ends and a UTF-8 byte-order mark, as spreadsheets and banks export them.

/** One CSV line (no line end) from its fields. */
export function csvLine(fields: readonly (string | number | bigint | null | undefined)[]): string {
  return fields
    .map((field) => {
      const text = field === null || field === undefined ? "" : String(field);
      return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
    })
    .join(",");
}

/** A whole CSV document: the header, then one line per row, each ended by CRLF. */
export function csvDocument(header: readonly string[], rows: readonly (readonly (string | number | bigint | null | undefined)[])[]): string {
  return [header, ...rows].map((fields) => `${csvLine(fields)}\r\n`).join("");
}

export class CsvSyntaxError extends Error {
  override name = "CsvSyntaxError";
  readonly line: number;
  constructor(message: string, line: number) {
    super(message);
    this.line = line;
  }
}

/** A parsed record and the (1-based) line it starts on. */
export interface CsvRecord {
  line: number;
  fields: string[];
}

/** Every record of `text`; blank lines are skipped. Throws CsvSyntaxError at an unterminated or misplaced quote. */
export function parseCsv(text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  while (i < text.length) {
    const start = line;
    const fields: string[] = [];
    let field = "";
    let quoted = false;
    for (;;) {
      const ch = text[i];
      if (quoted) {
        if (ch === undefined) throw new CsvSyntaxError("a quoted field is not closed", start);
        if (ch === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
          } else {
            quoted = false;
            i += 1;
            const next = text[i];
            if (next !== undefined && next !== "," && next !== "\r" && next !== "\n") throw new CsvSyntaxError("a closing quote is followed by more text", line);
          }
        } else {
          if (ch === "\n") line += 1;
          field += ch;
          i += 1;
        }
        continue;
      }
      if (ch === '"' && field === "") {
        quoted = true;
        i += 1;
      } else if (ch === ",") {
        fields.push(field);
        field = "";
        i += 1;
      } else if (ch === "\r" || ch === "\n" || ch === undefined) {
        fields.push(field);
        if (ch === "\r" && text[i + 1] === "\n") i += 2;
        else if (ch !== undefined) i += 1;
        if (ch !== undefined) line += 1;
        break;
      } else if (ch === '"') {
        throw new CsvSyntaxError("a quote inside an unquoted field", line);
      } else {
        field += ch;
        i += 1;
      }
    }
    if (!(fields.length === 1 && fields[0] === "")) records.push({ line: start, fields });
  }
  return records;
}

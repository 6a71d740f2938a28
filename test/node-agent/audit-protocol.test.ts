// The proof-of-storage protocol under Node, where nodes answer challenges and validators check them; the cases are
// in test/protocol/.

import { describeAuditProtocol } from "../protocol/audit-cases.ts";

describeAuditProtocol();

// The proof-of-storage protocol in workerd, where the edge assigns challenges; the cases are in test/protocol/.

import { describeAuditProtocol } from "../protocol/audit-cases.ts";

describeAuditProtocol();

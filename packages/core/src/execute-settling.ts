import type { ExecutionContext } from './context.js';
import { Pipeline } from './pipeline.js';
import type { Policy } from './policy.js';
import { type Settle, type SettlingOperation, settleWith, settlingAsOperation } from './settling.js';

/**
 * Runs `operation` under `policy` within `context` and hands the outcome to `settle`, exactly once. A hot
 * {@link Pipeline} whose policies all admit the call on their fast path makes no promise for it; any other
 * policy runs it through `execute`.
 */
export function executeSettling(
  policy: Policy,
  operation: SettlingOperation,
  context: ExecutionContext,
  settle: Settle,
): void {
  if (policy instanceof Pipeline) policy.executeSettling(operation, context, settle);
  else settleWith(policy.execute(settlingAsOperation(operation), context), settle);
}

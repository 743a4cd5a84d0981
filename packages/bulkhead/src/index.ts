export {
  type BulkheadOptions,
  BulkheadPolicy,
  type BulkheadQueueEvent,
  type BulkheadRejectEvent,
  type BulkheadRejectReason,
  bulkhead,
} from './bulkhead.js';

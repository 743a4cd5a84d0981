export {
  describeStoreConformance,
  type StoreConformanceOptions,
  type StoreHarness,
} from './store-conformance.js';

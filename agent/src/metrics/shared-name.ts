import type { SidecarMetricName } from '../../../catalog/metric-names';

/** A family the generated monitoring reads: its name must be one the catalog lists. */
export const shared = (name: SidecarMetricName): string => name;

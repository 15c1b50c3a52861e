import type Docker from 'dockerode';

/**
 * CPU and memory of the target container for the cpu_usage / memory_usage
 * triggers. Docker's one-shot stats take about a second (CPU needs two
 * readings), so the switch polls this in the background and uses the latest.
 */
export interface ContainerMetrics {
  sample(container: string): Promise<{ cpuPercent: number; memoryPercent: number } | null>;
}

interface StatsShape {
  cpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
  memory_stats?: { usage?: number; limit?: number; stats?: { inactive_file?: number; cache?: number } };
}

/** The docker CLI's formulas (cpu % of all online CPUs ×100 per CPU; memory minus page cache). */
export function percentFromStats(s: StatsShape): { cpuPercent: number; memoryPercent: number } | null {
  const cpuDelta = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const sysDelta = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  const usage = s.memory_stats?.usage;
  const limit = s.memory_stats?.limit;
  if (usage === undefined || !limit) return null;
  const cache = s.memory_stats?.stats?.inactive_file ?? s.memory_stats?.stats?.cache ?? 0;
  // Normalised to 0..100 (all CPUs busy = 100) so one threshold fits any host size.
  const cpuPercent = sysDelta > 0 && cpuDelta >= 0 ? (cpuDelta / sysDelta) * 100 : 0;
  return { cpuPercent: Math.round(cpuPercent * 100) / 100, memoryPercent: Math.round(((usage - cache) / limit) * 10000) / 100 };
}

export function dockerContainerMetrics(docker: Docker): ContainerMetrics {
  return {
    async sample(container) {
      try {
        const stats = (await docker.getContainer(container).stats({ stream: false })) as unknown as StatsShape;
        return percentFromStats(stats);
      } catch {
        return null; // no such container / engine gone: the trigger is not judged on this sample
      }
    },
  };
}

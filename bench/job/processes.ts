/** What a benchmark reads of a running process from /proc (Linux): CPU seconds and resident memory. */
import { readFile } from "node:fs/promises";

/** One reading of a process. */
export interface ProcessReading {
  /** User + system CPU seconds since the process started (all its threads). */
  readonly cpuSeconds: number;
  /** Resident memory now (VmRSS), in bytes. */
  readonly rssBytes: number;
  /** Highest resident memory so far (VmHWM), in bytes. */
  readonly peakRssBytes: number;
}

const TICKS_PER_SECOND = 100; // USER_HZ on every Linux this runs on

/** Reads /proc/<pid>/stat and /proc/<pid>/status. */
export async function readProcess(pid: number): Promise<ProcessReading> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kib = (key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return {
    cpuSeconds: (utime + stime) / TICKS_PER_SECOND,
    rssBytes: kib("VmRSS") * 1024,
    peakRssBytes: kib("VmHWM") * 1024,
  };
}

/** The 1-minute load average and `uptime`'s line, recorded beside absolute figures. */
export async function loadAverage(): Promise<{ readonly oneMinute: number; readonly line: string }> {
  const text = (await readFile("/proc/loadavg", "utf8")).trim();
  return { oneMinute: Number(text.split(" ")[0]), line: text };
}

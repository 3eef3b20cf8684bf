// Formatting of the `firmwatch.memoryUsage` answer. No `vscode` import.

export interface MemorySection {
  name: string;
  address: number;
  size: number;
  kind: string;
}

export interface MemoryUsage {
  sections: MemorySection[];
  ram: { used: number; total: number };
  flash: { used: number; total: number };
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '?';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 2 : 1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(2)} MiB`;
}

export function hex(address: number, width = 8): string {
  return '0x' + Math.max(0, Math.trunc(address)).toString(16).padStart(width, '0');
}

export function usageLine(label: string, used: number, total: number): string {
  if (!total) return `${label}: ${formatBytes(used)} used`;
  const pct = (100 * used) / total;
  return `${label}: ${formatBytes(used)} of ${formatBytes(total)} (${pct.toFixed(1)} %)`;
}

export interface MemoryRow {
  label: string;
  description: string;
  detail?: string;
}

/** Summary rows (RAM, flash), then sections by address. */
export function memoryRows(u: MemoryUsage): MemoryRow[] {
  const rows: MemoryRow[] = [
    { label: usageLine('RAM', u.ram.used, u.ram.total), description: 'data + bss + noinit' },
    { label: usageLine('Flash', u.flash.used, u.flash.total), description: 'text + rodata + data load image' },
  ];
  const sections = [...u.sections].sort((a, b) => a.address - b.address || a.name.localeCompare(b.name));
  for (const s of sections) {
    rows.push({ label: s.name, description: `${hex(s.address)}  ${formatBytes(s.size)}`, detail: s.kind });
  }
  return rows;
}

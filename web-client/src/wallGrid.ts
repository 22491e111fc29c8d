// The wall's grid: how many columns and how tall a row, so the tiles fill the screen. Pure (numbers
// in, numbers out): wall.ts measures the page and places the tiles; wallGrid.test.ts checks the sums.

/** 'auto': the fewest rows that fill the screen best; N: N×N tiles per screen. */
export type GridChoice = 'auto' | 2 | 3 | 4 | 5 | 6;
export const GRID_CHOICES: readonly GridChoice[] = ['auto', 2, 3, 4, 5, 6];

export interface GridInput {
  /** Tiles shown, in order, each with its group ('' for none: no heading row). */
  groups: string[];
  /** The board's width and the height it may fill on one screen (px). */
  width: number;
  height: number;
  gap: number;
  /** A tile's caption bar under the video (px). */
  bar: number;
  /** A heading row above each tile row when the tiles are grouped (px). */
  head: number;
  choice: GridChoice;
}

export interface GridLayout {
  cols: number;
  /** Height of a tile row, caption bar included (px). */
  rowHeight: number;
  /** Tile rows (the board may be taller than one screen). */
  rows: number;
  /** Heading rows are shown (the tiles are grouped). */
  headings: boolean;
  /** Every tile fits on one screen. */
  fits: boolean;
}

/** Narrowest tile the auto grid makes before it scrolls instead. */
export const MIN_TILE_WIDTH = 220;
/** Auto: when nothing fits one screen, columns of about this width, 16:9, scrolling. */
const SCROLL_TILE_WIDTH = 260;
/** Video taller than 4:3 in a tile is mostly black bars: rows stop growing there. */
const MAX_VIDEO_RATIO = 3 / 4;

export function gridLayout(inp: GridInput): GridLayout {
  const n = inp.groups.length;
  const headings = inp.groups.some((g) => g !== '');
  const headH = headings ? inp.head + inp.gap : 0;
  const colWidth = (c: number) => (inp.width - (c - 1) * inp.gap) / c;
  if (n === 0) return { cols: 1, rowHeight: 0, rows: 0, headings, fits: true };
  if (inp.choice !== 'auto') {
    const c = inp.choice;
    const rows = Math.ceil(n / c);
    // N rows per screen, each with its heading row; never shorter than a readable tile.
    const rowHeight = Math.max(80, (inp.height - c * headH - (c - 1) * inp.gap) / c);
    return { cols: c, rowHeight, rows, headings, fits: rows <= c };
  }
  let best: GridLayout | undefined;
  let bestArea = 0;
  for (let c = 1; c <= n; c++) {
    const w = colWidth(c);
    if (w < MIN_TILE_WIDTH) break;
    const rows = Math.ceil(n / c);
    const room = inp.height - rows * headH - (rows - 1) * inp.gap;
    // Fits when a 16:9 picture plus its bar does; then rows grow to fill the height (up to 4:3).
    if (rows * (w * (9 / 16) + inp.bar) > room) continue;
    const rowHeight = Math.min(room / rows, w * MAX_VIDEO_RATIO + inp.bar);
    const area = n * w * rowHeight;
    if (area > bestArea) {
      bestArea = area;
      best = { cols: c, rowHeight, rows, headings, fits: true };
    }
  }
  if (best) return best;
  const cols = Math.max(1, Math.floor((inp.width + inp.gap) / (SCROLL_TILE_WIDTH + inp.gap)));
  return {
    cols,
    rowHeight: colWidth(cols) * (9 / 16) + inp.bar,
    rows: Math.ceil(n / cols),
    headings,
    fits: false,
  };
}

/** Per tile row, the runs of one group: where each heading label goes (columns from 0, end exclusive). */
export function headingRuns(
  groups: string[],
  cols: number,
): { row: number; start: number; end: number; group: string }[] {
  const runs: { row: number; start: number; end: number; group: string }[] = [];
  groups.forEach((g, i) => {
    const row = Math.floor(i / cols);
    const col = i % cols;
    const last = runs[runs.length - 1];
    if (last && last.row === row && last.group === g) last.end = col + 1;
    else runs.push({ row, start: col, end: col + 1, group: g });
  });
  return runs;
}

/** What the grid choice in localStorage says ('auto' for anything else). */
export function parseGridChoice(v: string | null): GridChoice {
  const n = Number(v);
  return (GRID_CHOICES as readonly unknown[]).includes(n) ? (n as GridChoice) : 'auto';
}

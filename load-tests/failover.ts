// A cluster's cost and its failover, measured on three gateway processes (127.0.0.1, .2, .3) over a
// real Redis, one simulated camera (always-on), headless Chromium viewers (the phone view):
// - CPU: the owner with no viewer; with one pipe to an edge node (one viewer there); each further
//   viewer on the edge; each viewer on the owner itself (the single-node path), in the same run.
// - Failover: the owner SIGKILLed, again and again (it is started again after each round): time to a
//   new lease holder and until the viewer on another node shows new frames, without a reload.
// Run: npm run bench:failover   (BENCH_FAILOVER_KILLS=10 BENCH_FAILOVER_LEASE_SEC=3 BENCH_FAILOVER_CPU_SEC=10)
import type { Page } from 'playwright-core';
import { type Browser, launchBrowser } from '../tests/support/browser.js';
import { ClusterStack, type NodeProc, viewerOn } from '../tests/support/clusterStack.js';
import { probe } from '../tests/support/player.js';
import { sleep, waitFor } from '../tests/support/stack.js';
import { cpuOver, descendants } from './lib/proc.js';
import { envNumber, isMain, progress, type Row, summarize, textTable, writeResult } from './lib/report.js';

export async function runFailover() {
  const kills = envNumber('BENCH_FAILOVER_KILLS', 10);
  const leaseSec = envNumber('BENCH_FAILOVER_LEASE_SEC', 3);
  const cpuSec = envNumber('BENCH_FAILOVER_CPU_SEC', 10);
  const cluster = await ClusterStack.start({
    nodes: [
      ['node-a', '127.0.0.1'],
      ['node-b', '127.0.0.2'],
      ['node-c', '127.0.0.3'],
    ],
    leaseSec,
  });
  const browser: Browser = await launchBrowser();
  try {
    const ownerId = await waitFor('an owner', () => cluster.owner(), 15_000, 200);
    const owner = cluster.nodes.get(ownerId) as NodeProc;
    const edge = [...cluster.nodes.values()].find((n) => n !== owner) as NodeProc;
    const tree = (n: NodeProc) => () => [n.child.pid as number, ...descendants(n.child.pid as number)];
    const groups = { owner: tree(owner), edge: tree(edge) };
    await waitFor('the ingest', async () => (cluster.sessions() > 0 ? true : undefined), 15_000, 200);
    await sleep(2000);
    progress('cpu: owner alone');
    const idle = await cpuOver(groups, cpuSec * 1000);
    const pages: Page[] = [await viewerOn(browser, edge, cluster.token('edge-0'))];
    await sleep(2000);
    progress('cpu: one viewer on the edge (one pipe)');
    const one = await cpuOver(groups, cpuSec * 1000);
    for (let i = 1; i < 4; i++) pages.push(await viewerOn(browser, edge, cluster.token(`edge-${i}`)));
    await sleep(2000);
    progress('cpu: four viewers on the edge');
    const four = await cpuOver(groups, cpuSec * 1000);
    for (const p of pages) await p.close();
    const local: Page[] = [];
    for (let i = 0; i < 4; i++) local.push(await viewerOn(browser, owner, cluster.token(`local-${i}`)));
    await sleep(2000);
    progress('cpu: four viewers on the owner (single-node path)');
    const onOwner = await cpuOver(groups, cpuSec * 1000);
    for (const p of local) await p.close();
    const cpu = {
      ownerIngestPct: idle.groups['owner'],
      pipeOnOwnerPct: round((one.groups['owner'] ?? 0) - (idle.groups['owner'] ?? 0)),
      pipeInPlusFirstViewerOnEdgePct: round((one.groups['edge'] ?? 0) - (idle.groups['edge'] ?? 0)),
      perViewerOnEdgePct: round(((four.groups['edge'] ?? 0) - (one.groups['edge'] ?? 0)) / 3),
      perViewerOnOwnerPct: round(((onOwner.groups['owner'] ?? 0) - (idle.groups['owner'] ?? 0)) / 4),
      otherPct: [idle.otherPct, one.otherPct, four.otherPct, onOwner.otherPct],
    };

    // Failover rounds: the viewer always watches on a node that is not the owner.
    let viewerNode = edge;
    let page = await viewerOn(browser, viewerNode, cluster.token('failover-viewer'));
    const owned: number[] = [];
    const plays: number[] = [];
    for (let k = 0; k < kills; k++) {
      const was = (await waitFor('an owner', () => cluster.owner(), 15_000, 100)) as string;
      if (was === viewerNode.id) {
        await page.close();
        viewerNode = [...cluster.nodes.values()].find((n) => n.id !== was) as NodeProc;
        page = await viewerOn(browser, viewerNode, cluster.token('failover-viewer'));
      }
      const framesBefore = (await probe(page)).framesDecoded;
      const t0 = Date.now();
      const victim = await cluster.kill(was);
      await waitFor(
        'a new owner',
        async () => {
          const o = await cluster.owner().catch(() => undefined);
          return o && o !== was ? o : undefined;
        },
        30_000,
        50,
      );
      owned.push(Date.now() - t0);
      await waitFor(
        'the viewer to play again',
        async () => ((await probe(page)).framesDecoded > framesBefore + 5 ? true : undefined),
        30_000,
        50,
      );
      plays.push(Date.now() - t0);
      progress(`kill ${k + 1}/${kills}: ${was} → owned after ${owned.at(-1)} ms, plays after ${plays.at(-1)} ms`);
      await cluster.startNode(victim.id, victim.address, victim);
      await sleep(1500);
    }
    await page.close();
    return {
      kills,
      leaseSec,
      cpuSec,
      cpu,
      newOwnerMs: summarize(owned, 0),
      playsAgainMs: summarize(plays, 0),
      owned,
      plays,
    };
  } finally {
    await browser.close();
    await cluster.close();
  }
}

const round = (x: number) => Math.round(x * 100) / 100;

if (isMain(import.meta.url)) {
  const r = await runFailover();
  const rows: Row[] = [
    {
      what: `new lease holder after SIGKILL of the owner (lease ${r.leaseSec} s)`,
      p50: r.newOwnerMs.p50,
      p95: r.newOwnerMs.p95,
      n: r.kills,
      unit: 'ms',
    },
    {
      what: 'viewer on another node plays again',
      p50: r.playsAgainMs.p50,
      p95: r.playsAgainMs.p95,
      n: r.kills,
      unit: 'ms',
    },
  ];
  const cpuRows: Row[] = [
    { what: 'owner: ingest of the camera, no viewer', pct: r.cpu.ownerIngestPct },
    { what: 'owner: + one pipe to an edge', pct: r.cpu.pipeOnOwnerPct },
    { what: 'edge: the pipe in + its first viewer', pct: r.cpu.pipeInPlusFirstViewerOnEdgePct },
    { what: 'edge: each further viewer', pct: r.cpu.perViewerOnEdgePct },
    { what: 'owner: each viewer on the owner itself (single node)', pct: r.cpu.perViewerOnOwnerPct },
  ];
  process.stdout.write(textTable(rows));
  process.stdout.write(textTable(cpuRows));
  writeResult('failover', r);
}

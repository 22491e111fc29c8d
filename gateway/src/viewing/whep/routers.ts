// WHEP routers: mediasoup 3.12 consumers send with their router's payload types, and a WHEP player
// receives only on its offer's. So a WHEP view consumes on a router of its own worker whose codecs are
// numbered as the offer numbers them (sdp.ts whepPlan), one per numbering and worker (a browser
// build's offers all share one), fed by router.pipeToRouter from the stream's router: the pipe
// Producer maps the numbers it receives to its router's, so consumers there send on the offer's.
// router.pipeToRouter cannot do it on one worker: its pipe Producer takes the original's id, which
// the worker already knows ("Channel request handler with ID … already exists"), so the pipe is
// made here as pipeToRouter makes it, with a fresh id (and serves other workers' streams the same).
// The transport uses the worker's WebRtcServer (routers of one worker share it). A router no WHEP
// transport uses closes after a while; all close with their worker.
import type { types } from 'mediasoup';
import { GatewayError } from '../../../../signaling/src/errors.js';
import { PLAYOUT_DELAY } from '../../media/codecs.js';
import type { WorkerSlot } from '../../media/WorkerSlot.js';
import type { TransportRouter } from '../Viewer.js';
import type { WhepPlan } from './sdp.js';

/** Distinct numberings one worker holds at once: a bound on what odd offers can make it build. */
export const MAX_WHEP_ROUTERS_PER_WORKER = 16;
/** A WHEP router without WebRTC transports this long is closed (with its pipes). */
const IDLE_CLOSE_MS = 60_000;

type PipePair = { local: types.PipeTransport; remote: types.PipeTransport };

interface Entry {
  router: Promise<types.Router>;
  /** Pipe producers on it, by the stream Producer's id. */
  pipes: Map<string, Promise<types.Producer>>;
  /** The pipe transport pairs from the stream routers to it, by the stream router's id. */
  pairs: Map<string, Promise<PipePair>>;
}

const byWorker = new WeakMap<types.Worker, Map<string, Entry>>();

/** The placement of a WHEP transport on `slot`: the router of the plan's numbering on its worker. */
export async function whepRouterOn(slot: WorkerSlot, plan: WhepPlan): Promise<TransportRouter> {
  const worker = slot.worker;
  let routers = byWorker.get(worker);
  if (!routers) {
    routers = new Map();
    byWorker.set(worker, routers);
  }
  let entry = routers.get(plan.key);
  if (!entry) {
    if (routers.size >= MAX_WHEP_ROUTERS_PER_WORKER)
      throw new GatewayError('E_CAPACITY', 'too many WHEP players of different payload-type numberings right now');
    const made: Entry = { router: makeRouter(worker, plan), pipes: new Map(), pairs: new Map() };
    const all = routers;
    made.router.then(
      (router) => {
        router.observer.once('close', () => {
          if (all.get(plan.key) === made) all.delete(plan.key);
        });
        closeWhenIdle(router);
      },
      () => {
        if (all.get(plan.key) === made) all.delete(plan.key);
      },
    );
    routers.set(plan.key, made);
    entry = made;
  }
  const router = await entry.router;
  const { pipes, pairs } = entry;
  return {
    router,
    producerOn: (producer, origin) => {
      let p = pipes.get(producer.id);
      if (!p) {
        p = pipeProducer(origin.router, producer, router, pairs).then((pp) => {
          pp.observer.once('close', () => pipes.delete(producer.id));
          return pp;
        });
        p.catch(() => pipes.delete(producer.id));
        pipes.set(producer.id, p);
      }
      // The offer has no codec for it (this router has none then): the Viewer skips audio, refuses video.
      return p.catch((err: unknown) => {
        if (err instanceof Error && err.name === 'UnsupportedError') return undefined;
        throw err;
      });
    },
  };
}

/** `producer` (on `source`) as a Producer of its own id on `target`, through a pipe transport pair. */
async function pipeProducer(
  source: types.Router,
  producer: types.Producer,
  target: types.Router,
  pairs: Map<string, Promise<PipePair>>,
): Promise<types.Producer> {
  let pair = pairs.get(source.id);
  if (!pair) {
    pair = pipePair(source, target);
    pairs.set(source.id, pair);
    const mine = pair;
    const forget = () => {
      if (pairs.get(source.id) === mine) pairs.delete(source.id);
    };
    pair.then(({ local }) => local.observer.once('close', forget), forget);
  }
  const { local, remote } = await pair;
  const pipeConsumer = await local.consume({ producerId: producer.id });
  let pp: types.Producer | undefined;
  try {
    pp = await remote.produce({
      kind: pipeConsumer.kind,
      rtpParameters: pipeConsumer.rtpParameters,
      paused: pipeConsumer.producerPaused,
      appData: producer.appData,
    });
    if (producer.closed) throw new Error('the stream Producer closed meanwhile');
    if (pp.paused !== producer.paused) await (producer.paused ? pp.pause() : pp.resume());
  } catch (err) {
    pipeConsumer.close();
    pp?.close();
    throw err;
  }
  const piped = pp;
  pipeConsumer.observer.once('close', () => piped.close());
  pipeConsumer.observer.on('pause', () => void piped.pause().catch(() => {}));
  pipeConsumer.observer.on('resume', () => void piped.resume().catch(() => {}));
  piped.observer.once('close', () => pipeConsumer.close());
  return piped;
}

async function pipePair(source: types.Router, target: types.Router): Promise<PipePair> {
  const made = await Promise.allSettled([
    source.createPipeTransport({ listenIp: '127.0.0.1' }),
    target.createPipeTransport({ listenIp: '127.0.0.1' }),
  ]);
  const [a, b] = made;
  if (a?.status !== 'fulfilled' || b?.status !== 'fulfilled') {
    for (const m of made) if (m.status === 'fulfilled') m.value.close();
    throw made.find((m) => m.status === 'rejected')?.reason;
  }
  const local = a.value;
  const remote = b.value;
  try {
    await Promise.all([
      local.connect({ ip: remote.tuple.localIp, port: remote.tuple.localPort }),
      remote.connect({ ip: local.tuple.localIp, port: local.tuple.localPort }),
    ]);
  } catch (err) {
    local.close();
    remote.close();
    throw err;
  }
  local.observer.once('close', () => remote.close());
  remote.observer.once('close', () => local.close());
  return { local, remote };
}

async function makeRouter(worker: types.Worker, plan: WhepPlan): Promise<types.Router> {
  // mediasoup honours preferredPayloadType on media codecs but picks rtx numbers itself (rtx cannot be
  // listed in mediaCodecs), and the one it picks may be a later codec's preferred number (createRouter
  // then throws). The router's capabilities live in Node only (the worker never sees them; Producers'
  // mappings and consumers' parameters are computed from this object), so they are numbered here.
  const router = await worker.createRouter({
    mediaCodecs: plan.codecs.map((c) => c.codec),
    appData: { whep: plan.key },
  });
  try {
    number(router.rtpCapabilities, plan);
  } catch (err) {
    router.close();
    throw err;
  }
  // As on the slots' main routers (WorkerSlot): Producers and Consumers may then carry playout-delay.
  router.rtpCapabilities.headerExtensions?.push({ ...PLAYOUT_DELAY });
  return router;
}

function number(caps: types.RtpCapabilities, plan: WhepPlan): void {
  const codecs = caps.codecs ?? [];
  const media = codecs.filter((c) => !/\/rtx$/i.test(c.mimeType));
  if (media.length !== plan.codecs.length) throw new Error('the WHEP router has other codecs than planned');
  const used = new Set<number>();
  for (const p of plan.codecs) {
    used.add(p.payloadType);
    if (p.rtxPayloadType !== undefined) used.add(p.rtxPayloadType);
  }
  const free = () => {
    for (let pt = 96; pt <= 127; pt++) {
      if (used.has(pt)) continue;
      used.add(pt);
      return pt;
    }
    throw new Error('no free payload type for a WHEP router rtx');
  };
  // createRouter keeps mediaCodecs' order, each video codec followed by its rtx: pair them first.
  const pairs = media.map((c) => ({
    c,
    rtx: codecs.find(
      (x) => /\/rtx$/i.test(x.mimeType) && x.kind === c.kind && x.parameters?.['apt'] === c.preferredPayloadType,
    ),
  }));
  pairs.forEach(({ c, rtx }, i) => {
    const p = plan.codecs[i];
    if (!p || p.codec.mimeType.toLowerCase() !== c.mimeType.toLowerCase())
      throw new Error('the WHEP router has other codecs than planned');
    c.preferredPayloadType = p.payloadType;
    if (rtx) {
      rtx.parameters = { ...rtx.parameters, apt: p.payloadType };
      // An rtx the offer lacks stays unused (the consumer leaves it out) on a number nothing else has.
      rtx.preferredPayloadType = p.rtxPayloadType ?? free();
    }
  });
}

function closeWhenIdle(router: types.Router): void {
  let transports = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (transports === 0 && !router.closed) router.close();
    }, IDLE_CLOSE_MS);
    timer.unref();
  };
  router.observer.on('newtransport', (t) => {
    if (!('iceParameters' in t)) return; // the pipes' transports do not count
    transports++;
    clearTimeout(timer);
    t.observer.once('close', () => {
      if (--transports === 0) arm();
    });
  });
  router.observer.once('close', () => clearTimeout(timer));
  arm();
}

// The fuzz clients as a process of their own (`node --import tsx`), so that generating the traffic
// does not run on the gateway's event loop, which also relays the camera the test's viewer watches.
// Reads a FuzzPlan (JSON) from CCTV_FUZZ_PLAN; prints `started`, then the FuzzReport as one JSON line.
import { type FuzzPlan, runFuzz } from './fuzz.js';

const plan = JSON.parse(process.env['CCTV_FUZZ_PLAN'] ?? '') as FuzzPlan;
process.stdout.write('started\n');
process.stdout.write(`${JSON.stringify(await runFuzz(plan))}\n`);

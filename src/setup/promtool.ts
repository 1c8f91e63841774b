// promtool checks and unit-tests the Prometheus alerting rules in deploy/prometheus
// (`npm run test:rules`, part of `npm test`). Debian ships it in the `prometheus` package;
// installed with apt-get when missing and we may (root), like Chromium; otherwise the error
// says what to install.
import { aptGet, isExecutable, type Log } from './chromium.js';

export const promtoolPath = '/usr/bin/promtool';

export async function ensurePromtool(log: Log): Promise<string> {
  if (await isExecutable(promtoolPath)) return promtoolPath;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `promtool is missing at ${promtoolPath} (npm run test:rules checks the Prometheus rules with it). Install it as root: ` +
        `sudo apt-get update && sudo apt-get install -y prometheus`,
    );
  }
  log('installing promtool with apt-get (the Debian prometheus package; first time only, for the alerting rule tests)...');
  // Only promtool is wanted: none of the package's recommended extras.
  let result = await aptGet(['install', '-y', '--no-install-recommends', 'prometheus'], log);
  if (!result.ok) {
    log('apt-get install prometheus failed; running apt-get update and trying again...');
    const update = await aptGet(['update'], log);
    if (!update.ok) throw new Error(`apt-get update failed:\n${update.output.slice(-2_000)}`);
    result = await aptGet(['install', '-y', '--no-install-recommends', 'prometheus'], log);
  }
  // A package whose service could not be started may still report failure with the tool in place.
  if (!(await isExecutable(promtoolPath))) {
    throw new Error(`apt-get install -y prometheus did not install ${promtoolPath}:\n${result.output.slice(-2_000)}`);
  }
  log(`installed promtool at ${promtoolPath}`);
  return promtoolPath;
}

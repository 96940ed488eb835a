// A load-generating process: the runner forks several, so that clients neither share one event loop
// nor run into one process's open-file limit. It runs the `client` commands of a scenario module,
// keeping that scenario's state (its connections) between commands.
const state = {};

process.on('message', async ({ id, scenario, command, args }) => {
  try {
    const module = await import(`../scenarios/${scenario}.mjs`);
    state[scenario] ??= {};
    const result = await module.client[command](state[scenario], args);
    process.send({ id, result });
  } catch (error) {
    process.send({ id, error: error instanceof Error ? error.stack : String(error) });
  }
});
// The runner is gone (ended or crashed): nothing to measure for.
process.on('disconnect', () => process.exit(0));

// The image's HEALTHCHECK: ready when the server (PORT) or the worker (WORKER_PORT) of this
// container answers /readyz with 200. Exit 0 when ready, 1 otherwise; one line on failure.
const ports = [process.env.PORT || '3000', process.env.WORKER_PORT].filter(Boolean);
for (const port of ports) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(4000) });
    if (res.status === 200) process.exit(0);
    console.log(`port ${port}: /readyz answered ${res.status}`);
  } catch (err) {
    console.log(`port ${port}: ${err.cause?.code ?? err.message}`);
  }
}
process.exit(1);

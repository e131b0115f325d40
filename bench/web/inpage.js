// The raw-JavaScript variants of heartsock's benchmarks (the browser's own WebSocket, driven
// from JavaScript in the same page as the Python variants in bench/web/inpage.py), and the
// plan runner: the page fetches its plan from /ctl/plan and posts each step to /ctl/step.
(() => {
  const now = () => performance.now();
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const seq = (i) => String(i).padStart(16, "0");

  function open(url) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.binaryType = "arraybuffer";
      ws.onopen = () => resolve(ws);
      ws.onerror = () => reject(new Error("WebSocket to " + url + " failed"));
    });
  }

  // Resolve with `fn(data, t)` of the first message for which it returns something.
  function until(ws, fn) {
    return new Promise((resolve) => {
      ws.onmessage = (e) => {
        const r = fn(e.data, now());
        if (r !== undefined) resolve(r);
      };
    });
  }

  async function recv(url) {
    const ws = await open(url);
    let n = 0;
    let bytes = 0;
    const done = until(ws, (d, t) => {
      if (d === "done") return t;
      if (d !== "pong") {
        n++;
        bytes += typeof d === "string" ? d.length : d.byteLength;
      }
    });
    const [early, earlyBytes] = [n, bytes]; // handled before the window opened (none: the server waits for "go")
    const t0 = now();
    ws.send("go");
    const t1 = await done;
    ws.close();
    return { n: n - early, bytes: bytes - earlyBytes, early, ms: t1 - t0 };
  }

  const got = (d, t) => (typeof d === "string" && d.startsWith("got:") ? [t, JSON.parse(d.slice(4))] : undefined);

  async function send(url, n) {
    const ws = await open(url);
    const payloads = Array.from({ length: n }, (_, i) => seq(i));
    const answer = until(ws, got);
    const t0 = now();
    for (let i = 0; i < n; i++) ws.send(payloads[i]);
    const loopMs = now() - t0;
    const [t1, server] = await answer;
    ws.close();
    return { n, ms: t1 - t0, loop_ms: loopMs, ...server };
  }

  // n messages queued while connecting, flushed in order on open.
  async function flush(url, n) {
    const queue = Array.from({ length: n }, (_, i) => seq(i));
    const ws = new WebSocket(url);
    let tOpen = 0;
    ws.onopen = () => {
      tOpen = now();
      while (queue.length) ws.send(queue.shift());
    };
    const [t1, server] = await until(ws, got);
    ws.close();
    return { n, ms: t1 - tOpen, ...server };
  }

  async function echo(url, n, size) {
    const ws = await open(url);
    const msg = "x".repeat(size);
    const rtts = [];
    let t = 0;
    const done = until(ws, (d, t1) => {
      rtts.push(t1 - t);
      if (rtts.length === n) return true;
      t = now();
      ws.send(msg);
    });
    t = now();
    ws.send(msg);
    await done;
    ws.close();
    return rtts;
  }

  async function openMs(url) {
    const t0 = now();
    const ws = await open(url);
    const ms = now() - t0;
    ws.close();
    return ms;
  }

  // n raw sockets sending "ping" every `interval` ms.
  const many = { sockets: [], timers: [] };
  async function manyStart(url, n, heart) {
    for (let i = 0; i < n; i++) {
      const ws = await open(url);
      ws.onmessage = () => {};
      many.sockets.push(ws);
      many.timers.push(setInterval(() => ws.send("ping"), heart * 1000));
    }
    return n;
  }
  function manyStop() {
    many.timers.forEach(clearInterval);
    const stillOpen = many.sockets.filter((ws) => ws.readyState === 1).length;
    many.sockets.forEach((ws) => ws.close());
    many.sockets = [];
    many.timers = [];
    return stillOpen;
  }

  // Live PyProxies, JS heap after GC (needs --js-flags=--expose-gc, --enable-precise-memory-info).
  async function memory() {
    const py = window.pyodide;
    py.runPython("import gc\ngc.collect()");
    for (let i = 0; i < 3; i++) {
      gc();
      await sleep(10);
    }
    return {
      pyproxies: py._module.pyproxy_alloc_map.size,
      js_heap: performance.memory.usedJSHeapSize,
      wasm_memory: py._module.HEAP8.length,
      py_objects: py.runPython("import gc\nlen(gc.get_objects())"),
    };
  }
  function traceProxies() {
    window.pyodide._module.enable_pyproxy_allocation_tracing();
    return true;
  }

  async function ctl(path, body) {
    const init = body === undefined ? {} : { method: "POST", body: JSON.stringify(body) };
    const answer = await (await fetch("/ctl/" + path, init)).json();
    if (!answer.ok) throw new Error("ctl " + path + ": " + answer.error);
    return answer.result;
  }
  const ctlText = async (path) => JSON.stringify(await ctl(path));

  // ---- page set-up and the plan runner ----
  const scriptStart = now();

  // Copy heartsock's sources and inpage.py (as hsbench) into Pyodide's file system, then run the plan.
  async function setup(pyodide) {
    const bootMs = now() - scriptStart;
    try {
      const files = await (await fetch("/heartsock/index.json")).json();
      pyodide.FS.mkdirTree("/home/pyodide/heartsock");
      for (const name of files) {
        pyodide.FS.writeFile("/home/pyodide/heartsock/" + name, await (await fetch("/heartsock/" + name)).text());
      }
      pyodide.FS.writeFile("/home/pyodide/hsbench.py", await (await fetch("/bench/inpage.py")).text());
      pyodide.runPython("import sys\nif '/home/pyodide' not in sys.path: sys.path.insert(0, '/home/pyodide')");
      window.pyodide = pyodide;
      await runPlan(new URLSearchParams(location.search).get("page"), pyodide, bootMs);
    } catch (e) {
      await ctl("error?page=" + new URLSearchParams(location.search).get("page"), {
        error: String(e && e.stack ? e.stack : e),
      });
    }
  }

  // A call in a plan: {js: name, args} or {py: name, args}.
  async function call(pyodide, spec) {
    if (spec.js) return await window.hsb[spec.js](...spec.args);
    pyodide.globals.set("_hsb_args", JSON.stringify(spec.args));
    const code = "import hsbench, json\njson.dumps(await hsbench." + spec.py + "(*json.loads(_hsb_args)))";
    return JSON.parse(await pyodide.runPythonAsync(code));
  }

  async function runPlan(key, pyodide, bootMs) {
    const plan = await ctl("plan?page=" + key);
    for (let i = 0; i < plan.length; i++) {
      const step = plan[i];
      let result = null;
      let error = null;
      pyodide.runPython("import gc\ngc.collect()");
      await sleep(30);
      await ctl("mark?page=" + key + "&i=" + i);
      const t0 = now();
      try {
        if (step.hold === undefined) {
          result = await call(pyodide, step);
        } else {
          // Start something, read the CPU counters, hold for `hold` seconds, read again, stop.
          // With `barrier`, every page running holds at once (the host counts all their renderers).
          const wait = (phase) => step.barrier && ctl("barrier?name=" + step.id + step.variant + phase);
          const started = step.start ? await call(pyodide, step.start) : null;
          await wait("start");
          const before = await ctl("cpu");
          await sleep(step.hold * 1000);
          const after = await ctl("cpu");
          await wait("stop");
          const stopped = step.stop ? await call(pyodide, step.stop) : null;
          result = { started, stopped, before, after };
        }
      } catch (e) {
        error = String(e && e.stack ? e.stack : e);
      }
      await ctl("step?page=" + key + "&i=" + i, { result, error, ms: now() - t0 });
    }
    await ctl("done?page=" + key, { boot_ms: bootMs, pyodide: pyodide.version, isolated: crossOriginIsolated });
  }

  window.hsbSetup = setup;
  window.hsb = { open, recv, send, flush, echo, openMs, manyStart, manyStop, memory, traceProxies, ctl, ctlText };
})();

// The raw-JavaScript variants of heartsock's benchmarks: the browser's own WebSocket,
// driven from JavaScript in the same page and run as the Python variants (bench/inpage.py).
// Injected into the benchmark pages as window.hsb; every function resolves to a summary.
(() => {
  const now = () => performance.now();

  function open(url) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.binaryType = "arraybuffer";
      ws.onopen = () => resolve(ws);
      ws.onerror = () => reject(new Error("WebSocket to " + url + " failed"));
    });
  }

  function seq(i) {
    return String(i).padStart(16, "0");
  }

  // Item 1: the server pushes a burst on "go"; count until "done".
  async function recv(url) {
    const ws = await open(url);
    let n = 0;
    let bytes = 0;
    return new Promise((resolve) => {
      let t0 = 0;
      ws.onmessage = (e) => {
        const d = e.data;
        if (d === "done") {
          const t1 = now();
          ws.onmessage = null;
          ws.close();
          resolve({ n, bytes, ms: t1 - t0 });
        } else if (d !== "pong") {
          n++;
          bytes += typeof d === "string" ? d.length : d.byteLength;
        }
      };
      t0 = now();
      ws.send("go");
    });
  }

  // Item 2a: n sends while open; the server answers "got:{json}" once it holds all n.
  async function send(url, n) {
    const ws = await open(url);
    const payloads = new Array(n);
    for (let i = 0; i < n; i++) payloads[i] = seq(i);
    return new Promise((resolve) => {
      let t0 = 0;
      let loopMs = 0;
      ws.onmessage = (e) => {
        if (typeof e.data === "string" && e.data.startsWith("got:")) {
          const t1 = now();
          ws.close();
          resolve({ n, ms: t1 - t0, loop_ms: loopMs, server: JSON.parse(e.data.slice(4)) });
        }
      };
      t0 = now();
      for (let i = 0; i < n; i++) ws.send(payloads[i]);
      loopMs = now() - t0;
    });
  }

  // Item 2b: n messages queued while not connected, flushed in order on open.
  async function flush(url, n) {
    const queue = [];
    for (let i = 0; i < n; i++) queue.push(seq(i));
    return new Promise((resolve) => {
      const ws = new WebSocket(url);
      let tOpen = 0;
      ws.onopen = () => {
        tOpen = now();
        while (queue.length) ws.send(queue.shift());
      };
      ws.onmessage = (e) => {
        if (typeof e.data === "string" && e.data.startsWith("got:")) {
          const t1 = now();
          ws.close();
          resolve({ n, ms: t1 - tOpen, server: JSON.parse(e.data.slice(4)) });
        }
      };
    });
  }

  // Item 3: n sequential echoes; every round trip timed.
  async function echo(url, n, size) {
    const ws = await open(url);
    const msg = "x".repeat(size);
    const rtts = new Array(n);
    let i = 0;
    return new Promise((resolve) => {
      let t = 0;
      ws.onmessage = () => {
        const t1 = now();
        rtts[i++] = t1 - t;
        if (i === n) {
          ws.close();
          resolve(rtts);
        } else {
          t = now();
          ws.send(msg);
        }
      };
      t = now();
      ws.send(msg);
    });
  }

  // Item 7 baseline: n raw sockets, each sending "ping" every `interval` ms; answers counted.
  const many = { sockets: [], timers: [], pongs: 0 };
  async function manyStart(url, n, interval) {
    const opened = [];
    for (let i = 0; i < n; i++) opened.push(open(url));
    many.sockets = await Promise.all(opened);
    many.pongs = 0;
    for (const ws of many.sockets) {
      ws.onmessage = () => {
        many.pongs++;
      };
      many.timers.push(setInterval(() => ws.send("ping"), interval));
    }
    return many.sockets.length;
  }
  function manyStop() {
    for (const t of many.timers) clearInterval(t);
    const open = many.sockets.filter((ws) => ws.readyState === 1).length;
    for (const ws of many.sockets) ws.close();
    const result = { open, pongs: many.pongs };
    many.sockets = [];
    many.timers = [];
    return result;
  }

  // Item 9 baseline: new WebSocket → onopen.
  async function firstOpen(url) {
    const t0 = now();
    const ws = await open(url);
    const ms = now() - t0;
    ws.close();
    return ms;
  }

  // The FFI floor: JS calling a Python callable n times (with a 16-character string).
  function callMany(fn, n, arg) {
    const t0 = now();
    for (let i = 0; i < n; i++) fn(arg);
    return now() - t0;
  }

  async function ctl(path) {
    const r = await fetch("/ctl/" + path);
    const body = await r.json();
    if (!body.ok) throw new Error("ctl " + path + ": " + body.error);
    return body.result;
  }

  // Copy a patched heartsock (served at /heartsock-patched/) in as the package heartsock_patched.
  async function installPatched() {
    const files = await ctl("patched_index");
    window.pyodide.FS.mkdirTree("/home/pyodide/heartsock_patched");
    for (const name of files) {
      const text = await (await fetch("/heartsock-patched/" + name)).text();
      window.pyodide.FS.writeFile("/home/pyodide/heartsock_patched/" + name, text);
    }
    return files.length;
  }

  // Run Python source in the page (experiments: gc.freeze(), …); returns str(result).
  function pyRun(code) {
    return String(window.pyodide.runPython(code));
  }

  async function ctlText(path) {
    return JSON.stringify(await ctl(path));
  }

  // ---- page set-up and the plan runner (CDP-free runs) ----
  const marks = { script_start: now() };

  async function post(path, body) {
    const r = await fetch("/ctl/" + path, { method: "POST", body: JSON.stringify(body) });
    const answer = await r.json();
    if (!answer.ok) throw new Error("ctl " + path + ": " + answer.error);
    return answer.result;
  }

  // Copy heartsock's sources and bench/inpage.py (as hsbench) into Pyodide's file system,
  // expose window.pyodide, set <html data-ready>, then run the host's plan if ?page= says so.
  async function setup(pyodide) {
    marks.pyodide_ready = now();
    try {
      const files = await (await fetch("/heartsock/index.json")).json();
      pyodide.FS.mkdirTree("/home/pyodide/heartsock");
      for (const name of files) {
        const text = await (await fetch("/heartsock/" + name)).text();
        pyodide.FS.writeFile("/home/pyodide/heartsock/" + name, text);
      }
      pyodide.FS.writeFile("/home/pyodide/hsbench.py", await (await fetch("/bench/inpage.py")).text());
      pyodide.runPython("import sys\nif '/home/pyodide' not in sys.path: sys.path.insert(0, '/home/pyodide')");
      window.pyodide = pyodide;
      marks.sources_ready = now();
      document.documentElement.dataset.ready = "1";
      const key = new URLSearchParams(location.search).get("page");
      if (key) await runPlan(key, pyodide);
    } catch (e) {
      const error = String(e && e.stack ? e.stack : e);
      document.documentElement.dataset.error = error;
      fetch("/ctl/error", { method: "POST", body: JSON.stringify({ error }) });
    }
  }

  async function runPlan(key, pyodide) {
    const plan = await ctl("plan?page=" + key);
    for (let i = 0; i < plan.length; i++) {
      const step = plan[i];
      let result = null;
      let error = null;
      pyodide.runPython("import gc\ngc.collect()");
      await new Promise((r) => setTimeout(r, 30));
      await ctl("mark?page=" + key + "&i=" + i);
      const t0 = now();
      try {
        if (step.js) {
          result = await window.hsb[step.js](...step.args);
        } else {
          pyodide.globals.set("_hsb_args", JSON.stringify(step.args));
          const code = "import hsbench, json\njson.dumps(await hsbench." + step.py + "(*json.loads(_hsb_args)))";
          result = JSON.parse(await pyodide.runPythonAsync(code));
        }
      } catch (e) {
        error = String(e && e.stack ? e.stack : e);
      }
      const ms = now() - t0;
      await post("step?page=" + key + "&i=" + i, { result, error, ms });
    }
    const versions = { pyodide: pyodide.version, user_agent: navigator.userAgent, isolated: crossOriginIsolated };
    const answer = await post("done?page=" + key, { marks, versions });
    if (answer && answer.next) location.href = answer.next;
  }

  window.hsbSetup = setup;
  window.hsb = { now, open, recv, send, flush, echo, manyStart, manyStop, firstOpen, callMany, ctl, ctlText, installPatched, pyRun };
})();

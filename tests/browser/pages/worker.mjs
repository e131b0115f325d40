// A module Web Worker that boots Pyodide, copies heartsock's sources in, runs the Python
// code it is sent, and posts back [0, result] or [1, error]. No `window` exists here.
import { loadPyodide } from "/pyodide/pyodide.mjs";

const ready = (async () => {
  const pyodide = await loadPyodide({ indexURL: "/pyodide/" });
  const files = await (await fetch("/heartsock/index.json")).json();
  pyodide.FS.mkdirTree("/home/pyodide/heartsock");
  for (const name of files) {
    pyodide.FS.writeFile("/home/pyodide/heartsock/" + name, await (await fetch("/heartsock/" + name)).text());
  }
  return pyodide;
})();

self.onmessage = async (event) => {
  try {
    const pyodide = await ready;
    const result = await pyodide.runPythonAsync(event.data);
    self.postMessage([0, String(result)]);
  } catch (e) {
    self.postMessage([1, String(e)]);
  }
};

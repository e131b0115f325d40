// Run Python under MicroPython in Node.js, with heartsock importable:
//   node devtools/mpy_node.mjs FILE.py
// MicroPython is the npm @micropython/micropython-webassembly-pyscript (the one PyScript's mpy
// uses); heartsock's sources are copied into its /lib/heartsock. Exit status 1 if FILE.py raises
// (the traceback goes to stderr). Used by tests/tooling/test_micropython.py: a quick check that
// every module a MicroPython page imports compiles and imports there, without a browser.
import fs from "fs";
import path from "path";
import url from "url";

const root = path.resolve(path.dirname(url.fileURLToPath(import.meta.url)), "..");
const modules = process.env.HEARTSOCK_NODE_MODULES || path.join(root, "node_modules");
const { loadMicroPython } = await import(
  url.pathToFileURL(path.join(modules, "@micropython/micropython-webassembly-pyscript/micropython.mjs")).href
);
const mpy = await loadMicroPython({
  heapsize: 16 * 1024 * 1024,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});
mpy.FS.mkdirTree("/lib/heartsock");
for (const name of fs.readdirSync(path.join(root, "heartsock"))) {
  if (name.endsWith(".py")) {
    mpy.FS.writeFile("/lib/heartsock/" + name, fs.readFileSync(path.join(root, "heartsock", name), "utf8"));
  }
}
try {
  await mpy.runPythonAsync(fs.readFileSync(process.argv[2], "utf8"));
} catch (error) {
  process.stderr.write(String(error) + "\n");
  process.exitCode = 1;
}

"""Rewrite every list of heartsock's modules that a PyScript ``files`` config needs.

PyScript's ``files`` form names each file of the package; these places hold such a list:
``www/pyscript.json`` and ``www/pyscript-mpy.json`` (the demo pages, URLs from the
server's root), ``examples/runtimes/pyscript*.json``, the example
``examples/files/pyscript.json``, and the copies of that example quoted in ``README.md``
and ``docs/ways-in.md``. After adding, renaming or removing a module of ``heartsock/``,
run ``python -m devtools.files_config``; the tooling tests fail until the lists agree.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "heartsock"
QUOTED_IN = (ROOT / "README.md", ROOT / "docs" / "ways-in.md")
#: The MicroPython demo page's config, and the one-app-three-runtimes example's pages.
MORE_CONFIGS = (
    ROOT / "www" / "pyscript-mpy.json",
    ROOT / "examples" / "runtimes" / "pyscript.json",
    ROOT / "examples" / "runtimes" / "pyscript-mpy.json",
)


def package_files() -> list[str]:
    """The files a wheel of heartsock holds: its modules and ``py.typed``, sorted."""
    return sorted(p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or p.name == "py.typed")


def files_config(path: Path, url_prefix: str) -> str:
    """``path``'s config with its ``files`` rewritten: ``<url_prefix><name>`` → ``./heartsock/<name>``.

    Entries for other files (an app's own modules) are kept, first.
    """
    config = json.loads(path.read_text())
    own = {k: v for k, v in config.get("files", {}).items() if not v.startswith("./heartsock/")}
    config["files"] = own | {f"{url_prefix}{name}": f"./heartsock/{name}" for name in package_files()}
    return json.dumps(config, indent=2) + "\n"


def main() -> None:
    """Rewrite the lists in place."""
    (ROOT / "www" / "pyscript.json").write_text(files_config(ROOT / "www" / "pyscript.json", "/heartsock/"))
    for served in MORE_CONFIGS:  # pages served with heartsock's sources at /heartsock/
        served.write_text(files_config(served, "/heartsock/"))
    example = ROOT / "examples" / "files" / "pyscript.json"
    text = files_config(example, "./heartsock/")
    example.write_text(text)
    for doc in QUOTED_IN:
        source = doc.read_text()
        block = re.compile(r"(```json\n)(\{\n  \"interpreter\"[^`]*?\"\./heartsock/__init__\.py\"[^`]*?)(```)")
        doc.write_text(block.sub(lambda m: m.group(1) + text + m.group(3), source, count=1))


if __name__ == "__main__":
    main()

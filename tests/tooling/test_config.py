"""Config files that must follow heartsock's module list (checked without a browser)."""

from __future__ import annotations

from devtools import files_config
from devtools.static import ROOT


def test_demo_pages_config_lists_every_module() -> None:
    """www/pyscript.json maps every file of heartsock/ (run `python -m devtools.files_config` after adding one)"""
    www = ROOT / "www" / "pyscript.json"
    assert www.read_text() == files_config.files_config(www, "/heartsock/")


def test_files_example_is_current() -> None:
    """examples/files/pyscript.json maps every file of heartsock/ (the README and docs quote it verbatim)"""
    example = ROOT / "examples" / "files" / "pyscript.json"
    assert example.read_text() == files_config.files_config(example, "./heartsock/")

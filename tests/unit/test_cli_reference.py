"""The command-line reference (the docs page and the dynopypi(1) man page) is generated
from the parser the program uses: every command and every option is in it, with its help,
and every setting names its TOML key and variable."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType

from dynopypi.cli.args import build_parser

ROOT = Path(__file__).resolve().parents[2]


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "docs/cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parsers(
    parser: argparse.ArgumentParser, words: str
) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(words, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += parsers(sub, f"{words} {name}")
    return found


def test_every_command_and_option_is_in_the_reference() -> None:
    page = generator().render()
    for words, parser in parsers(build_parser(), "dynopypi")[1:]:
        assert f" {words}\n" in page, words  # its heading
        for action in parser._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}" in page, (words, flag)


def test_settings_name_their_toml_key_and_variable() -> None:
    page = generator().render()
    for key in ("port", "upstream", "min_age", "storage", "max_upload_size"):
        assert f"Setting: `{key}` in the TOML file, `DYNOPYPI_{key.upper()}`" in page, key

"""A user file is read strictly: repeated keys, huge expansions and odd encodings are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from hcs_devices.config import UserFileError, read_yaml_file


def _file(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "file.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_read_yaml_file_lets_a_key_override_a_merged_one_when_a_merge_key_is_used(
    tmp_path: Path,
) -> None:
    text = "base: &base {a: 1, b: 2}\nitem:\n  <<: *base\n  b: 3\n"
    assert read_yaml_file(_file(tmp_path, text))["item"] == {"a": 1, "b": 3}


def test_read_yaml_file_reads_aliases_when_they_expand_to_little(tmp_path: Path) -> None:
    text = "dapi: &dapi {config: DAPI}\nchannels: [*dapi, *dapi]\n"
    assert read_yaml_file(_file(tmp_path, text))["channels"] == [{"config": "DAPI"}] * 2


def test_read_yaml_file_reads_the_file_when_it_starts_with_a_byte_order_mark(
    tmp_path: Path,
) -> None:
    assert read_yaml_file(_file(tmp_path, "\ufeffa: 1\n".encode())) == {"a": 1}


def test_read_yaml_file_allows_the_same_key_when_the_mappings_differ(tmp_path: Path) -> None:
    text = "x: {name: a}\ny: {name: a}\nlist: [{name: a}, {name: a}]\n"
    assert read_yaml_file(_file(tmp_path, text))["list"] == [{"name": "a"}] * 2


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("a: 1\nb:\n  c: 2\n  c: 3\n", r"line 4: duplicate key 'c' \(first given at line 3\)"),
        ("a: 1\na: 2\n", r"line 2: duplicate key 'a' \(first given at line 1\)"),
        ("- {k: 1, k: 2}\n", r"line 1: duplicate key 'k'"),
        ("a: [" * 65 + "]" * 65 + "\n", r"nested more than 64 levels deep"),
    ],
    ids=["nested", "top-level", "flow", "deep"],
)
def test_read_yaml_file_names_the_line_when_the_structure_is_refused(
    tmp_path: Path, text: str, names: str
) -> None:
    with pytest.raises(UserFileError, match=names):
        read_yaml_file(_file(tmp_path, text))


def test_read_yaml_file_names_the_line_when_a_byte_is_not_utf8(tmp_path: Path) -> None:
    with pytest.raises(UserFileError, match=r"line 2: byte 0xb5 is not UTF-8 text"):
        read_yaml_file(_file(tmp_path, "a: 1\nb: 5 \xb5m\n".encode("latin-1")))

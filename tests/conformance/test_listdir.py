"""Contract: listdir returns (directories, files), immediate children only, relative names."""

from __future__ import annotations

from django.core.files.base import ContentFile


def fill(storage, *names: str) -> None:
    for name in names:
        storage.save(name, ContentFile(name.encode()))


def test_listdir_root(storage):
    fill(storage, "top.txt", "dir1/a.txt", "dir2/sub/b.txt")
    dirs, files = storage.listdir("")
    assert sorted(dirs) == ["dir1", "dir2"]
    assert sorted(files) == ["top.txt"]


def test_listdir_subdirectory_names_are_relative(storage):
    fill(storage, "base/one.txt", "base/two.txt", "base/inner/three.txt", "other/x.txt")
    dirs, files = storage.listdir("base")
    assert sorted(dirs) == ["inner"]
    assert sorted(files) == ["one.txt", "two.txt"]


def test_listdir_trailing_slash_is_the_same_directory(storage):
    fill(storage, "slash/a.txt", "slash/d/b.txt")
    assert tuple(map(sorted, storage.listdir("slash/"))) == (["d"], ["a.txt"])


def test_listdir_only_immediate_children_without_duplicates(storage):
    fill(storage, "deep/a/1.txt", "deep/a/2.txt", "deep/a/b/3.txt", "deep/c.txt")
    dirs, files = storage.listdir("deep")
    assert sorted(dirs) == ["a"]  # once, though three files lie below it
    assert sorted(files) == ["c.txt"]


def test_listdir_many_files(storage):
    fill(storage, *(f"many/f{i:03d}.txt" for i in range(60)))
    dirs, files = storage.listdir("many")
    assert dirs == []
    assert sorted(files) == [f"f{i:03d}.txt" for i in range(60)]


def test_listdir_does_not_match_a_name_prefix(storage):
    fill(storage, "pre/a.txt", "prefix/b.txt", "pre.txt")
    assert tuple(map(sorted, storage.listdir("pre"))) == ([], ["a.txt"])

"""Registry: discovery, config hashes, the lock check, citations, clear errors for broken YAML."""
import json
import shutil

import pyarrow.parquet as pq
import pytest


from mmpriv_tasks import paths, registry

from mmpriv_tasks.registry import behaviour
from mmpriv_tasks.registry.retired import retired_tasks


def test_lock_matches_configs():
    problems = registry.lock_problems()
    assert not problems, "\n".join(problems)


def test_every_task_has_version_family_modality_citation():
    for name, entry in registry.discover().items():
        meta = entry.metadata
        assert "version" in meta, f"{entry.path}: metadata.version missing"
        if entry.kind == "task":
            assert meta.get("modality") in {"image", "audio"}, name
            assert meta.get("citation"), name
            registry.bibtex(entry.path.parent, meta["citation"])  # resolvable


@pytest.fixture
def configs_copy(tmp_path):
    root = tmp_path / "task_configs"
    shutil.copytree(paths.task_configs_dir(), root)
    registry.discover.cache_clear()
    yield root
    registry.discover.cache_clear()


def test_changed_prompt_without_version_bump_is_caught(configs_copy):
    target = configs_copy / "mmprivacy" / "mmpriv_disclosure_direct.yaml"
    target.write_text(target.read_text() + 'description: "Answer briefly. "\n')  # prepended to every prompt
    problems = registry.lock_problems(configs_copy)
    assert [p.split(":")[0] for p in problems] == ["mmpriv_disclosure_direct"]
    assert "config_hash and prompts changed" in problems[0] and "bump metadata.version" in problems[0]


@pytest.mark.slow
def test_version_bump_needs_lock_update_then_passes(configs_copy):
    target = configs_copy / "mmprivacy" / "mmpriv_disclosure_direct.yaml"
    target.write_text(target.read_text() + 'description: "Answer briefly. "\nmetadata:\n'
                      "  version: 9.0\n  family: mmprivacy\n  modality: image\n  citation: chen2026mmprivacy\n")
    assert any("run `mmpriv registry --update`" in p for p in registry.lock_problems(configs_copy))
    registry.write_lock(configs_copy)
    assert registry.lock_problems(configs_copy) == []
    assert json.loads(registry.lock_path(configs_copy).read_text())["mmpriv_disclosure_direct"]["version"] == "9.0"


def test_broken_yaml_names_the_file(configs_copy):
    broken = configs_copy / "mmprivacy" / "broken_task.yaml"
    broken.write_text("task: broken\n  doc_to_text: [unclosed\n")
    with pytest.raises(registry.RegistryError, match="broken_task.yaml"):
        registry.discover(configs_copy)


def test_duplicate_task_name_names_both_files(configs_copy):
    (configs_copy / "mmprivacy" / "dup.yaml").write_text(
        "include: _disclosure_template_yaml\ntask: mmpriv_disclosure_direct\n")
    with pytest.raises(registry.RegistryError, match="already defined"):
        registry.discover(configs_copy)


def test_an_include_read_once_still_follows_edits_and_each_task_owns_its_config(tmp_path):
    (tmp_path / "_base.yaml").write_text("metadata:\n  version: 1.0\ngeneration_kwargs:\n  until: []\n")
    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text(f"include: _base.yaml\ntask: {name}\n")
    first, second = registry.load_config(tmp_path / "a.yaml"), registry.load_config(tmp_path / "b.yaml")
    first["generation_kwargs"]["until"].append("stop")
    assert second["generation_kwargs"] == {"until": []}
    assert registry.load_config(tmp_path / "b.yaml")["generation_kwargs"] == {"until": []}
    (tmp_path / "_base.yaml").write_text("metadata:\n  version: 2.0\ngeneration_kwargs:\n  until: [END]\n")
    assert registry.load_config(tmp_path / "a.yaml")["metadata"]["version"] == 2.0
    (tmp_path / "_base.yaml").write_text("metadata: [unclosed\n")
    with pytest.raises(registry.RegistryError, match="_base.yaml"):
        registry.load_config(tmp_path / "b.yaml")


def test_group_expands_to_its_tasks():
    entries = registry.discover()
    for name, entry in entries.items():
        if entry.kind == "group":
            assert registry.tasks_of(name, entries), name


def test_family_comes_from_metadata_before_the_folder(configs_copy):
    moved = configs_copy / "elsewhere"
    moved.mkdir()
    (moved / "x.yaml").write_text("task: x_task\nmetadata:\n  version: 1.0\n  family: hearsay\n")
    (moved / "y.yaml").write_text("task: y_task\nmetadata:\n  version: 1.0\n")
    entries = registry.discover(configs_copy)
    assert entries["x_task"].family == "hearsay" and entries["y_task"].family == "elsewhere"


def test_data_file_and_item_counts():
    entries = registry.discover()
    assert entries["hearsay_blind_gender"].num_items() == 50  # generated rows: dataset_kwargs.n
    assert entries["hearsay_age_profiler"].data_file() is None and entries["hearsay_age_profiler"].num_items() is None
    direct = entries["mmpriv_disclosure_direct"]
    assert direct.data_file().name == "disclosure.parquet"
    for name in ("mmpriv_disclosure_direct", "mmpriv_retention_vqa_noimage", "hearsay_gender_cot"):
        config = behaviour.lm_eval_config(entries[name].path)
        task = config["class"](config=config)  # what lm-eval evaluates (its YAML names the task class)
        assert entries[name].num_items() == len(task.test_docs()) > 0, name
    config = {"dataset_kwargs": {"dataset": "mmprivacy"}}  # no split: no bundled file to name
    assert registry.Entry("t", "task", direct.path, config).data_file() is None
    config = {"dataset_kwargs": {**direct.config["dataset_kwargs"], "n": 3}}  # n only counts generated rows
    assert registry.Entry("t", "task", direct.path, config).num_items() == direct.num_items()
    emails = {"dataset_kwargs": {**direct.config["dataset_kwargs"], "where": {"pii_type": "email"}}}
    pii_types = pq.read_table(direct.data_file(), columns=["pii_type"]).column("pii_type").to_pylist()
    assert registry.Entry("t", "task", direct.path, emails).num_items() == pii_types.count("email") < len(pii_types)


def test_unknown_and_retired_names_say_what_to_do():
    entries = registry.discover()
    with pytest.raises(KeyError, match=r"unknown task or group 'no_such_task' \(see `mmpriv list`\)"):
        registry.tasks_of("no_such_task", entries)
    retired = next(iter(retired_tasks()))
    with pytest.raises(KeyError, match=rf"task '{retired}' is retired.*use instead: "):
        registry.tasks_of(retired, entries)


def test_update_writes_the_committed_lock_byte_for_byte(configs_copy):
    committed = registry.lock_path(configs_copy).read_text()
    assert registry.write_lock(configs_copy).read_text() == committed


def test_lock_from_an_older_mmpriv_asks_for_an_update(configs_copy):
    lock = json.loads(registry.lock_path(configs_copy).read_text())
    del lock["mmpriv_disclosure_direct"]["scoring"], lock["mmpriv_disclosure_direct"]["prompts"]
    registry.lock_path(configs_copy).write_text(json.dumps(lock))
    assert registry.lock_problems(configs_copy) == [
        "mmpriv_disclosure_direct: registry.lock lacks prompts, scoring (written by an older mmpriv); "
        "run `mmpriv registry --update`"]


def test_bibtex_gives_one_entry_or_the_whole_file(tmp_path):
    (tmp_path / "CITATION.bib").write_text("\n@article{first2026,\n  title = {One}\n}\n\n"
                                           "@misc{second2026,\n  title = {Two}\n}\n\n")
    assert registry.bibtex(tmp_path) == "@article{first2026,\n  title = {One}\n}\n\n@misc{second2026,\n  title = {Two}\n}"
    assert registry.bibtex(tmp_path, "second2026") == "@misc{second2026,\n  title = {Two}\n}"
    assert registry.bibtex(tmp_path, "first2026") == "@article{first2026,\n  title = {One}\n}"
    with pytest.raises(registry.RegistryError, match="no entry with key 'nope'"):
        registry.bibtex(tmp_path, "nope")
    with pytest.raises(registry.RegistryError, match="no CITATION.bib"):
        registry.bibtex(tmp_path / "missing")

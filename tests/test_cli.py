"""`mmpriv list | cite | path | registry | validate` through the installed console script, and the
README's commands as written."""
import re
import shlex

import pytest

from mmpriv_tasks import registry
from mmpriv_tasks.paths import task_configs_dir

from conftest import REPO, run_cli, venv_bin


def test_path_prints_the_task_configs_folder(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "path", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == str(task_configs_dir())


def test_list_shows_version_modality_items_family_citation(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "list", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith("mmpriv_disclosure_direct "))
    entry = registry.discover()["mmpriv_disclosure_direct"]
    assert line.split() == ["mmpriv_disclosure_direct", entry.version, "image", "60", "mmprivacy", "chen2026mmprivacy"]
    assert "mmpriv_disclosure" in proc.stdout.split("group")[-1]
    assert "Columns: version = " in proc.stdout and '"data*" = no bundled data: get it with' in proc.stdout


def test_cite_prints_bibtex_and_pins(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "cite", "mmpriv_disclosure", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("@misc{chen2026mmprivacy,")
    assert proc.stdout.count("% ") >= 6 and f"mmpriv_disclosure_caption v{registry.discover()['mmpriv_disclosure_caption'].version} config:" in proc.stdout


def test_cite_unknown_name_is_a_clear_error(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "cite", "no_such_task", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown task or group 'no_such_task'" in proc.stderr


def test_registry_check_passes_on_the_shipped_configs(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "registry", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_list_cite_validate_take_an_include_path(tmp_path):
    """A family made by `mmpriv new-task` can be listed, cited and validated before it has data."""
    tasks = tmp_path / "my_tasks"
    assert run_cli(venv_bin("mmpriv"), "new-task", "form_leaks", "--dest", str(tasks), cwd=tmp_path).returncode == 0
    proc = run_cli(venv_bin("mmpriv"), "list", "--include_path", str(tasks), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert next(l for l in proc.stdout.splitlines() if l.startswith("form_leaks_disclosure_direct ")).split() == [
        "form_leaks_disclosure_direct", "1.0", "image", "data*", "form_leaks", "form_leaks"]
    proc = run_cli(venv_bin("mmpriv"), "cite", "form_leaks_disclosure_direct", "--include_path", str(tasks), cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("@misc{form_leaks,"), proc.stderr
    proc = run_cli(venv_bin("mmpriv"), "validate", "--tasks", "form_leaks_disclosure_direct", "--include_path",
                   str(tasks), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no data  form_leaks_disclosure_direct" in proc.stdout and "--configs" in proc.stdout


def _readme_commands(*docs: str) -> list[list[str]]:
    """Every `mmpriv ...` command in the bash blocks of the README (or of ``docs``), as argv
    (continuation lines joined)."""
    texts = [(REPO / doc).read_text() for doc in (docs or ("README.md",))]
    blocks = [block for text in texts for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)]
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            for part in re.split(r"&&|;", line.split("  #")[0]):
                words = shlex.split(part.replace("$(", "").replace(")", ""), comments=True)
                if words and words[0] in ("mmpriv", ".venv/bin/mmpriv"):
                    commands.append(words)
    return commands


def test_readme_says_how_to_reach_the_commands():
    text = (REPO / "README.md").read_text()
    assert "source .venv/bin/activate" in text  # bare `mmpriv` / `lm-eval` work after the Quick start


@pytest.mark.parametrize("words", _readme_commands(), ids=lambda w: " ".join(w[1:4]))
def test_every_readme_command_parses(words, tmp_path):
    """Each README command's sub-command exists and takes the options written (`--help` of that
    sub-command, nothing run); `mmpriv run --help` lists ours above lm-eval's."""
    sub = []
    for word in words[1:]:
        if word.startswith("-"):
            break
        sub.append(word)  # sub-commands and positional arguments: --help applies to the deepest parser
    proc = run_cli(venv_bin("mmpriv"), *sub, "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for option in (w.split("=")[0] for w in words if w.startswith("--")):
        assert option in proc.stdout, f"{' '.join(words)}: {option} not accepted"


def test_lm_eval_hints_that_do_not_apply_are_dropped_and_warnings_kept(caplog):
    import logging

    from mmpriv_tasks.commands import lm_eval_noise

    lm_eval_noise.install()
    task_logger = logging.getLogger("lm_eval.api.task")
    with caplog.at_level(logging.INFO):
        task_logger.warning("mmpriv_disclosure_direct: Custom kwargs can be passed to `--metadata` in console "
                            "(as json string) or to the TaskManager.\nFor example --metadata='{\"max_seq_lengths\"...")
        task_logger.warning("mmpriv_disclosure_direct: a real problem")
    assert "max_seq_lengths" not in caplog.text and "a real problem" in caplog.text


@pytest.mark.slow  # a fresh interpreter importing evaluate, datasets and lm-eval (test_metrics_evaluate.py: in-process)
def test_readme_evaluate_example_runs(tmp_path):
    """The README's `evaluate.load(...)` line, as written, after `import evaluate, mmpriv_tasks`."""
    import sys

    (example,) = re.findall(r"`(evaluate\.load\(str\(mmpriv_tasks\.paths\.metrics_dir\(\).*?\))`",
                            (REPO / "README.md").read_text())
    code = (f"import evaluate, mmpriv_tasks; metric = {example}; "
            "print(metric.compute(predictions=['Selected Label: Male'], references=['Male']))")
    proc = run_cli(sys.executable, "-c", code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "'accuracy': 1.0" in proc.stdout


# Which test runs each kind of README/docs command through the CLI (on the bundled data, tiny models or a
# local fake server instead of hub models and full-size data); see test_every_documented_command_is_run.
RUN_BY = {
    "run ocr-extractor": "test_mmprivacy_retention.py::test_mmprivacy_suite_runs_every_task_with_ocr_extractor",
    "run refuse-all": "test_disclosure_e2e.py::test_mmpriv_run_alongside_a_standard_task_on_local_data",
    "run mmpriv-hf": "test_model_args.py::test_documented_model_args_run_through_the_cli",
    "run mmpriv-api": "test_api_options.py::test_cli_apply_chat_template_sends_the_system_instruction_as_a_message",
    "run ...": "test_scaffold.py::test_scaffolded_family_runs_with_its_data",  # --metadata data_dir
    "report": "test_report.py::test_a_folder_with_several_runs_reports_them_all",
    "data build mmprivacy": "test_console_pii.py::test_data_build_and_import_consoles_hold_no_pii",
    "data import mmprivacy": "test_mmprivacy_import.py::test_cli_import_reports_rows_and_errors_cleanly",
    "data import hearsay": "test_hearsay_data.py::test_cli_imports",
    "data import commonvoice": "test_hearsay_data.py::test_cli_imports",
    "memorize": "test_memorize.py::test_lora_adapter_round_trip_and_all_retention_tasks",
    "memorize export": "test_memorize.py::test_export",
    "cite": "test_cli.py::test_cite_prints_bibtex_and_pins",
    "new-task": "test_scaffold.py::test_scaffolded_family_runs_with_its_data",
    "new-task --pack": "test_packs.py::test_pack_task_runs_end_to_end_and_reports",
    "list": "test_cli.py::test_list_cite_validate_take_an_include_path",
    "validate": "test_cli.py::test_list_cite_validate_take_an_include_path",
}
DOCUMENTED = _readme_commands("README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md")))


def command_kind(words: list[str]) -> str:
    """The RUN_BY key of a documented command: the sub-command (with the dataset for `data`, the model for
    `run`, `export` for `memorize export`, `--pack` for `new-task --pack`)."""
    sub = words[1]
    if sub == "run":
        return f"run {words[words.index('--model') + 1]}" if "--model" in words else "run ..."
    if sub == "data":
        return " ".join(words[1:4])
    if sub == "memorize" and words[2:3] == ["export"]:
        return "memorize export"
    return f"{sub} --pack" if "--pack" in words else sub


@pytest.mark.parametrize("words", DOCUMENTED, ids=lambda w: " ".join(w[1:4]))
def test_every_documented_command_is_run(words):
    """Each `mmpriv` command of the README and docs/ has a test that runs that kind of command through
    the CLI (the test named in RUN_BY exists; CI runs it, in the default or the slow lane)."""
    import ast

    kind = command_kind(words)
    assert kind in RUN_BY, f"{' '.join(words)}: no test runs a '{kind}' command (add one to RUN_BY)"
    path, name = RUN_BY[kind].split("::")
    tree = ast.parse((REPO / "tests" / path).read_text())
    assert name in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}, RUN_BY[kind]



def test_run_help_lists_our_options_before_lm_evals(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "run", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ours, _, theirs = proc.stdout.partition("usage: lm-eval run")
    for option in ("--keep_pii", "--include_path DIR", "--output_path PATH", "preset=NAME", "MMPRIV_REFUSAL_MODE"):
        assert option in ours
    assert "--model_args" in theirs and "--log_samples" in theirs


def test_ci_runs_readme_command_2_then_the_slow_lane():
    """`.ci/run` runs the README's test command exactly, then `pytest -n auto -m slow`, then the real-server lane
    (exit 5 fails every lane)."""
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), flags=re.DOTALL)
    command_2 = next(block.strip() for block in blocks if "pytest" in block)
    lines = [l for l in (REPO / ".ci" / "run").read_text().splitlines() if "pytest" in l and not l.startswith("#")]
    assert lines == [command_2, ".venv/bin/python -m pytest -n auto -m slow",
                     ".venv/bin/python -m pytest -m real_server -rA tests/test_real_server.py  # -rA: the steps in the log"]
    assert command_2.endswith("python -m pytest -n auto")

"""`mmpriv validate`: the registry lock, then each task built by lm-eval and its first prompt rendered."""
from __future__ import annotations

from mmpriv_tasks import paths, registry
from mmpriv_tasks.task_data import DatasetMissingError


def validate(names: list[str] | None = None) -> list[str]:
    """Problems found (empty when everything is valid); prints one line per task checked."""
    from lm_eval.tasks import TaskManager, get_task_dict

    problems = registry.lock_problems()
    entries = registry.discover()
    tasks = sorted({t.name for n in (names or entries) for t in registry.tasks_of(n, entries)})
    manager = TaskManager(include_path=str(paths.task_configs_dir()))
    for name in tasks:
        try:
            task = get_task_dict([name], manager)[name]
            doc = next(iter(task.test_docs()))
            task.doc_to_text(doc)
            media = len(task.doc_to_image(doc) or []) if task.config.doc_to_image else 0
            print(f"ok       {name}: {len(task.test_docs())} docs, first prompt renders ({media} image(s))")
        except DatasetMissingError:
            print(f"no data  {name}: needs imported data (see `mmpriv data --help`)")
        except Exception as exc:  # noqa: BLE001 - report every broken task, not just the first
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
            print(f"BROKEN   {name}: {type(exc).__name__}: {exc}")
    return problems

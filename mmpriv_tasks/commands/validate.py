"""`mmpriv validate`: the registry locks, then each task built by lm-eval and its first prompt rendered."""
from __future__ import annotations

from pathlib import Path

from mmpriv_tasks import registry

from mmpriv_tasks.commands import lm_eval_noise

from mmpriv_tasks.registry import packs
from mmpriv_tasks.inputs.task_data import DatasetMissingError


def _lock_problems(roots: list[Path], include: str | None) -> list[str]:
    """Lock problems of ``roots`` (ours, packs'); a user folder is checked only once it has a lock."""
    user = Path(include).resolve() if include else None
    problems = [p for root in roots if root != user for p in registry.lock_problems(root)]
    if user in roots and registry.lock_path(user).is_file():
        problems += registry.lock_problems(user)
    elif user in roots:
        print(f"note     {include}: no {registry.LOCK_NAME} yet; pin its tasks with "
              f"`mmpriv registry --configs {include} --update`")
    return problems


def validate(names: list[str] | None = None, include: str | None = None) -> list[str]:
    """Problems found (empty when everything is valid); prints one line per task checked. The locks
    checked are those of the folders holding the tasks asked for (all by default)."""
    from lm_eval.tasks import TaskManager, get_task_dict

    lm_eval_noise.install()
    entries = packs.entries(include)
    tasks = sorted({t.name for n in (names or entries) for t in registry.tasks_of(n, entries)})
    roots = [root for root in packs.task_roots(include)
             if any(entries[t].path.resolve().is_relative_to(root) for t in tasks)]
    problems = _lock_problems(roots, include)
    manager = TaskManager(include_path=packs.include_path(include), include_defaults=False)
    for name in tasks:
        try:
            task = get_task_dict([name], manager)[name]
            doc = next(iter(task.test_docs()))
            task.doc_to_text(doc)
            media = len(task.doc_to_image(doc) or []) if task.config.doc_to_image else 0
            print(f"ok       {name}: {len(task.test_docs())} docs, first prompt renders ({media} image(s))")
        except DatasetMissingError:
            print(f"no data  {name}: no bundled data; get it with `mmpriv data build --help` / "
                  f"`mmpriv data import --help`")
        except Exception as exc:  # noqa: BLE001 - report every broken task, not just the first
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
            print(f"BROKEN   {name}: {type(exc).__name__}: {exc}")
    return problems
